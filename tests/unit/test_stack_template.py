"""A test stack on the embedded default copies the database `migrate` and `agency import`
made for the same agencies and settings earlier in the test process (Stack.template_dir,
tests/conftest.py); a home that has a database already is migrated in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from worker.db.engine import Database
from worker.db.models import Agency, User
from worker.launch.stack import Stack


def _count(home: Path, model: type) -> int:
    db = Database(f"sqlite:///{home / 'handoff.db'}")
    try:
        with db.unit_of_work() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        db.dispose()


@pytest.mark.processes  # `handoff migrate` and `agency import`, then copies
def test_a_second_stack_gets_a_copy_and_a_used_home_keeps_its_rows(tmp_path: Path,
                                                                  monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(Stack, "template_dir", tmp_path / "templates")
    first = Stack(home=tmp_path / "first")
    first.migrate()
    agencies = _count(first.home, Agency)
    assert agencies >= 3  # the example file's
    assert len(list((tmp_path / "templates").iterdir())) == 1

    second = Stack(home=tmp_path / "second")
    second.migrate()  # no process: a copy
    assert _count(second.home, Agency) == agencies
    assert (second.home.stat().st_mode & 0o777) == 0o700
    out = second.run_input("pw-long-enough-1\n", "user", "add", "ops", "--role", "ops",
                           "--name", "Vận Hành", "--password-stdin")
    assert out.returncode == 0, out.stderr
    second.migrate()  # a database there already: migrated in place, not replaced
    assert _count(second.home, User) == 1
    for stack in (first, second):
        stack.stop()
