"""The token folder is private to the service user: a folder others own or may write is
refused, no file is opened through a planted symlink, temporary files are created
exclusively."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from integrations.carriers.vnpost.tokens import files as token_files
from integrations.carriers.vnpost.tokens.cache import TokenCache
from integrations.carriers.vnpost.tokens.files import UnsafeTokenFolder
from worker.domain.errors import TransientError

NAME = "a" * 32
OUTSIDE = "an outside file that must stay as it is\n"


class Door:
    def __init__(self) -> None:
        self.requests = 0

    def fetch(self) -> tuple[str, float]:
        self.requests += 1
        return f"live-token-{self.requests}", 3600.0


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "tokens"
    made.mkdir(mode=0o700)
    return made


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "outside.txt"
    target.write_text(OUTSIDE)
    return target


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_token_is_shared_through_private_files_and_no_temporary_file_is_left(
        folder: Path) -> None:
    door = Door()
    assert TokenCache(folder, NAME).get(door.fetch) == "live-token-1"
    assert TokenCache(folder, NAME).get(door.fetch) == "live-token-1"  # another process
    assert door.requests == 1
    assert sorted(p.name for p in folder.iterdir()) == [f"{NAME}.json", f"{NAME}.lock"]
    assert all(_mode(p) == 0o600 for p in folder.iterdir()) and _mode(folder) == 0o700


def test_a_symlink_planted_at_the_lock_path_is_refused_and_its_target_untouched(
        folder: Path, outside: Path, caplog: pytest.LogCaptureFixture) -> None:
    (folder / f"{NAME}.lock").symlink_to(outside)
    door = Door()
    with pytest.raises(UnsafeTokenFolder, match="symlink") as refused:
        TokenCache(folder, NAME).get(door.fetch)
    assert isinstance(refused.value, TransientError)  # retried until ops fix it
    assert door.requests == 0 and outside.read_text() == OUTSIDE
    assert f"{NAME}.lock is a symlink: not opened" in caplog.text


def test_a_symlink_planted_at_the_temporary_path_is_refused_and_its_target_untouched(
        folder: Path, outside: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the name the former code wrote to (predictable: process and thread ids), and the new
    # unguessable name made guessable here, as if an attacker had guessed it
    (folder / f"{NAME}.{os.getpid()}.{threading.get_ident()}.tmp").symlink_to(outside)
    monkeypatch.setattr(token_files.secrets, "token_hex", lambda n: "guessed")
    (folder / f".{NAME}.json.guessed.tmp").symlink_to(outside)
    with pytest.raises(UnsafeTokenFolder, match="đã có sẵn, không ghi đè"):
        TokenCache(folder, NAME).get(Door().fetch)
    assert outside.read_text() == OUTSIDE
    assert not (folder / f"{NAME}.json").exists()


def test_a_symlink_planted_as_the_token_file_is_never_read_nor_written_through(
        folder: Path, outside: Path) -> None:
    (folder / f"{NAME}.json").symlink_to(outside)
    with pytest.raises(UnsafeTokenFolder, match="symlink"):
        TokenCache(folder, NAME).get(Door().fetch)
    assert outside.read_text() == OUTSIDE


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_folder_group_or_others_may_write_is_refused(folder: Path, mode: int,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    folder.chmod(mode)
    door = Door()
    with pytest.raises(UnsafeTokenFolder, match=f"ghi được \\(quyền {mode:o}\\)"):
        TokenCache(folder, NAME).get(door.fetch)
    assert door.requests == 0 and list(folder.iterdir()) == []
    assert _mode(folder) == mode  # not silently "fixed": something may have been planted
    assert f"writable by group or others (mode {mode:o})" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the folder to another user needs root")
def test_a_folder_another_user_owns_is_refused(folder: Path) -> None:
    os.chown(folder, 12345, 12345)
    with pytest.raises(UnsafeTokenFolder, match="thuộc người dùng uid 12345"):
        TokenCache(folder, NAME).get(Door().fetch)


def test_a_folder_others_may_read_is_made_private_and_a_failed_chmod_is_refused(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.chmod(0o755)
    assert TokenCache(folder, NAME).get(Door().fetch) == "live-token-1"
    assert _mode(folder) == 0o700
    folder.chmod(0o755)

    def refused(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(token_files.os, "chmod", refused)
    with pytest.raises(UnsafeTokenFolder, match="không đặt được quyền 700"):
        TokenCache(folder, "b" * 32).get(Door().fetch)


def test_a_token_file_others_may_read_is_not_used_and_is_replaced_by_a_private_one(
        folder: Path) -> None:
    door = Door()
    TokenCache(folder, NAME).get(door.fetch)
    (folder / f"{NAME}.json").chmod(0o644)
    assert TokenCache(folder, NAME).get(door.fetch) == "live-token-2"
    assert _mode(folder / f"{NAME}.json") == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_token_file_another_user_owns_is_refused(folder: Path) -> None:
    TokenCache(folder, NAME).get(Door().fetch)
    os.chown(folder / f"{NAME}.json", 12345, 12345)
    with pytest.raises(UnsafeTokenFolder, match="không phải tệp thường"):
        TokenCache(folder, NAME).get(Door().fetch)
