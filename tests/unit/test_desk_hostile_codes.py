"""Dossier codes typed at any desk door (page, API, CLI) are checked once, in the service."""

from __future__ import annotations

import subprocess
import sys

import pytest

from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.service.flow import desk
from worker.settings import Settings

HOSTILE = ["\udcff\udcfe", "000.00.17.H19-201126-0001\x00", "000.00.17.H19\u202e-201126",
           "x" * 10_000]


@pytest.mark.parametrize("code", HOSTILE, ids=["surrogates", "nul", "bidi", "long"])
def test_a_hostile_code_is_refused_with_a_reason_and_a_showable_code(
        sqlite_db: Database, code: str) -> None:
    rt = build_runtime(settings=Settings(database_url=sqlite_db.url), db=sqlite_db)
    for outcome in (desk.request_pickups(rt, [code], actor="test")[0],
                    desk.cancel(rt, code, actor="test")):
        assert outcome.outcome == "refused" and outcome.reason
        outcome.dossier_code.encode("utf-8")  # printable on a page, in JSON, in a terminal
        assert "\x00" not in outcome.dossier_code and len(outcome.dossier_code) <= 80


@pytest.mark.processes  # runs `handoff` in a subprocess
def test_the_cli_refuses_an_argument_that_is_not_utf8(tmp_path) -> None:
    env = {"HANDOFF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "worker.cli", "pickup", "request",
                          b"\xff\xfe000.00.17.H19-201126-0001"], env=env,
                         capture_output=True, timeout=60)
    assert out.returncode == 2, out.stderr.decode(errors="replace")  # refused, not a crash
    assert b"Traceback" not in out.stderr


@pytest.mark.parametrize("args", [["pickup", "pending", "--agency"],
                                  ["pickup", "cancel", "000.00.17.H19-201126-0001",
                                   "--agency"]])
@pytest.mark.processes  # runs `handoff` in a subprocess
def test_an_agency_option_that_is_not_utf8_is_a_usage_error(tmp_path, args) -> None:
    env = {"HANDOFF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "worker.cli", *args, b"\xff"], env=env,
                         capture_output=True, timeout=60)
    assert out.returncode == 2 and b"Traceback" not in out.stderr, out.stderr
