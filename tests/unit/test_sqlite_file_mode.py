"""The embedded database holds personal data: its file (and the -wal and -shm files SQLite
makes beside it) is created 0600, an older one readable by others is made 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.handoff_cli import handoff
from worker.db.engine import Database


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.processes  # `handoff migrate` as an operator runs it
def test_the_embedded_database_and_its_wal_files_are_created_0600(tmp_path: Path) -> None:
    home = tmp_path / "home"
    before = os.umask(0o022)  # the usual umask, which made the file 0644
    try:
        out = handoff(home, "migrate")
    finally:
        os.umask(before)
    assert out.returncode == 0, out.stderr
    assert _mode(home / "handoff.db") == 0o600 and _mode(home) == 0o700
    db = Database(f"sqlite:///{home / 'handoff.db'}")  # a process using it: WAL files exist
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
            made = {p.name: _mode(p) for p in home.iterdir() if p.name.startswith("handoff.db")}
    finally:
        db.dispose()
    assert set(made) == {"handoff.db", "handoff.db-wal", "handoff.db-shm"}, made
    assert set(made.values()) == {0o600}, made


def test_an_older_database_file_readable_by_others_is_made_0600(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    Database(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600

