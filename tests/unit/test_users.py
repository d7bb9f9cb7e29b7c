"""Desk and ops users: a desk user always belongs to an agency."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from worker.db.engine import Database
from worker.service.users import add_user, authenticate


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


def test_cli_reports_a_desk_user_without_agency(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_HOME"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "worker.cli", "user", "add", "motcua", "--role", "desk",
         "--password", "desk-pass-2026"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert "a desk user needs --agency" in out.stderr
