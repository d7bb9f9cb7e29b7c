"""Desk and ops users: a desk user always belongs to an agency."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time

import pytest

from tests.handoff_cli import handoff as _cli
from worker.db.engine import Database
from worker.service.access.users import add_user, authenticate


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


@pytest.mark.parametrize("agency", [None, "", "   "])
def test_desk_user_needs_an_agency(db: Database, agency: str | None) -> None:
    with db.unit_of_work() as s, pytest.raises(ValueError, match="a desk user needs --agency"):
        add_user(s, "motcua", "desk-pass-2026", "desk", agency)


def test_desk_user_with_agency_and_ops_without(db: Database) -> None:
    with db.unit_of_work() as s:
        add_user(s, "motcua", "desk-pass-2026", "desk", " 000.00.17.H19 ", "Cán bộ một cửa")
        add_user(s, "ops", "ops-pass-2026", "ops")
    with db.unit_of_work() as s:
        desk = authenticate(s, "motcua", "desk-pass-2026")
        ops = authenticate(s, "ops", "ops-pass-2026")
        assert desk is not None and desk.agency_code == "000.00.17.H19"
        assert ops is not None and ops.agency_code is None


def _embedded(home) -> Database:
    return Database(f"sqlite:///{home / 'handoff.db'}")


@pytest.mark.processes  # runs `handoff` in a subprocess
def test_cli_reports_a_desk_user_without_agency(tmp_path) -> None:
    out = _cli(tmp_path, "user", "add", "motcua", "--role", "desk", "--password-stdin",
               stdin="desk-pass-2026\n")
    assert out.returncode == 2, out
    assert "a desk user needs --agency" in out.stderr


@pytest.mark.processes  # runs `handoff` in a subprocess
def test_cli_takes_passwords_from_stdin_never_from_argv(tmp_path) -> None:
    refused = _cli(tmp_path, "user", "add", "ops", "--role", "ops", "--password", "ops-pass-2026")
    assert refused.returncode == 2
    assert "never taken from the command line" in refused.stderr
    no_tty = _cli(tmp_path, "user", "add", "ops", "--role", "ops")  # stdin is not a terminal
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    short = _cli(tmp_path, "user", "add", "ops", "--role", "ops", "--password-stdin",
                 stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    added = _cli(tmp_path, "user", "add", "ops", "--role", "ops", "--name", "Trần Vận Hành",
                 "--password-stdin", stdin="ops pass with spaces 2026\r\n")
    assert added.returncode == 0, added.stderr
    db = _embedded(tmp_path)
    with db.unit_of_work() as s:
        assert authenticate(s, "ops", "ops pass with spaces 2026") is not None
        assert authenticate(s, "ops", "ops-pass-2026") is None  # the refused argv one
    db.dispose()


@pytest.mark.processes  # runs `handoff` in a subprocess
def test_cli_passwd_deactivate_activate_and_list(tmp_path) -> None:
    assert _cli(tmp_path, "user", "add", "ops", "--role", "ops", "--password-stdin",
                stdin="first-password\n").returncode == 0
    for args in (("passwd", "nobody", "--password-stdin"), ("deactivate", "nobody"),
                 ("activate", "nobody")):
        out = _cli(tmp_path, "user", *args, stdin="some-password\n")
        assert out.returncode == 2 and "no user named 'nobody'" in out.stderr, out
    out = _cli(tmp_path, "user", "passwd", "ops", "--password-stdin", stdin="short\n")
    assert out.returncode == 2 and "at least 8" in out.stderr
    assert _cli(tmp_path, "user", "passwd", "ops", "--password-stdin",
                stdin="second-password\n").returncode == 0
    assert _cli(tmp_path, "user", "deactivate", "ops").returncode == 0
    db = _embedded(tmp_path)
    with db.unit_of_work() as s:
        assert authenticate(s, "ops", "second-password") is None  # deactivated
    listed = _cli(tmp_path, "user", "list", "--json")
    assert json.loads(listed.stdout) == [{"username": "ops", "role": "ops", "agency_code": None,
                                          "full_name": "", "active": False}]
    assert "scrypt" not in listed.stdout
    assert _cli(tmp_path, "user", "activate", "ops").returncode == 0
    with db.unit_of_work() as s:
        assert authenticate(s, "ops", "second-password") is not None
        assert authenticate(s, "ops", "first-password") is None
    db.dispose()
    assert "INACTIVE" not in _cli(tmp_path, "user", "list").stdout


@pytest.mark.parametrize("command", [("passwd", "--password-stdin"), ("deactivate",),
                                     ("activate",)], ids=lambda c: c[0])
@pytest.mark.processes  # runs `handoff` in a subprocess
def test_a_username_that_is_not_utf8_is_refused_with_the_reason(tmp_path, command) -> None:
    assert _cli(tmp_path, "user", "add", "ops", "--role", "ops", "--password-stdin",
                stdin="first-password\n").returncode == 0
    out = _cli(tmp_path, "user", command[0], b"\xffops", *command[1:],
               stdin="second-password\n")
    assert out.returncode == 2, out.stderr  # refused, not a crash
    assert "Traceback" not in out.stderr
    assert "tên đăng nhập chứa ký tự không hợp lệ" in out.stderr, out.stderr


def _read_until(fd: int, wanted: bytes, seen: bytearray, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted!r} in {bytes(seen)!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                chunk = b""
            assert chunk, f"ended before {wanted!r}: {bytes(seen)!r}"
            seen += chunk


@pytest.mark.processes  # runs `handoff` in a subprocess
def test_cli_prompts_on_a_terminal_without_echo(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_HOME"] = str(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: `handoff user add` on a real terminal
        os.execve(sys.executable, [sys.executable, "-m", "worker.cli", "user", "add", "ops",
                                   "--role", "ops"], env)
    seen = bytearray()
    _read_until(fd, b"Password:", seen)
    os.write(fd, b"typed-at-the-prompt\n")
    _read_until(fd, b"confirmation:", seen)
    os.write(fd, b"typed-at-the-prompt\n")
    _read_until(fd, b"saved", seen)
    assert os.waitpid(pid, 0)[1] == 0
    os.close(fd)
    assert b"typed-at-the-prompt" not in seen  # never echoed
    db = _embedded(tmp_path)
    with db.unit_of_work() as s:
        assert authenticate(s, "ops", "typed-at-the-prompt") is not None
    db.dispose()
