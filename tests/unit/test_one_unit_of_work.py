"""Above the service layer there is one unit of work (worker/service/ledger/uow.py): pages, CLI,
tasks and checks never open a bare `Database.unit_of_work()`, a read refuses to write, and
a runtime-less write refuses to queue work it could not ring."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from worker.db.engine import Database
from worker.db.models import Handoff, Heartbeat, Job
from worker.domain.enums import JobKind
from worker.service import ledger
from worker.service.ledger import uow

ROOT = Path(__file__).resolve().parents[2]
# Where sessions may be opened bare: the service layer (its session-taking machinery), the
# database package, and the bell itself (it marks rows rung; it is what `begin` rings).
BELOW = ("worker/service/", "worker/db/")
VIEWS = "worker/service/views/"  # read models for pages: scanned as pages are
BELL = "worker/launch/celery_app.py"


def bare_units_of_work(source: str) -> list[int]:
    """Line numbers of calls to `<anything>.unit_of_work(...)`."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "unit_of_work"]


def _upper_modules() -> list[Path]:
    found = []
    for path in sorted((ROOT / "worker").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if (not rel.startswith(BELOW) or rel.startswith(VIEWS)) and rel != BELL:
            found.append(path)
    return found


def test_no_page_command_task_or_check_opens_a_bare_unit_of_work() -> None:
    upper = _upper_modules()
    names = {p.relative_to(ROOT).as_posix() for p in upper}
    # the scan covers the layers the rule is about (a moved tree must not empty it)
    assert {"worker/tasks.py", "worker/launch/health.py", "worker/service/views/metrics.py",
            "worker/service/views/reports.py", "worker/launch/demo.py", "worker/web/desk.py",
            "worker/cli/ops.py"} <= names
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in upper
                 for line in bare_units_of_work(p.read_text(encoding="utf-8"))]
    assert offenders == [], "use uow.begin(rt), uow.read(rt) or uow.write(db)"


def test_the_scan_finds_a_bare_unit_of_work_however_the_database_is_named() -> None:
    source = ("with rt.db.unit_of_work() as s:\n    pass\n"
              "with db.unit_of_work() as s:\n    pass\n"
              "with uow.begin(rt) as s:\n    pass\n")
    assert bare_units_of_work(source) == [1, 3]


def _handoff(db: Database) -> int:
    with uow.write(db) as s:
        h = Handoff(dossier_code="000.00.17.H19-261126-0001", direction="result_delivery",
                    source_item_id="hof_1", order_number="000.00.17.H19-261126-0001/R1",
                    status="requested", ready_at=datetime.now(UTC))
        s.add(h)
        s.flush()
        return h.id


def test_a_read_refuses_an_added_row_and_writes_nothing(sqlite_db: Database) -> None:
    with pytest.raises(uow.WriteRefused), uow.read(sqlite_db) as s:
        s.add(Heartbeat(name="read-only?", at=datetime.now(UTC)))
        s.flush()
    with uow.read(sqlite_db) as s:
        assert s.scalars(select(Heartbeat).where(Heartbeat.name == "read-only?")).all() == []


def test_a_read_refuses_an_update_statement(sqlite_db: Database) -> None:
    hid = _handoff(sqlite_db)
    with pytest.raises(uow.WriteRefused), uow.read(sqlite_db) as s:
        s.execute(update(Handoff).where(Handoff.id == hid).values(status="cancelled"))
    with uow.read(sqlite_db) as s:
        assert s.scalar(select(Handoff.status).where(Handoff.id == hid)) == "requested"


def test_a_write_without_a_bell_refuses_queued_work_and_commits_nothing(
        sqlite_db: Database) -> None:
    hid = _handoff(sqlite_db)
    with pytest.raises(uow.WriteRefused, match="uow.begin"), uow.write(sqlite_db) as s:
        assert ledger.enqueue(s, JobKind.POST_ORDER, hid, "post:x") is not None
    with uow.read(sqlite_db) as s:
        assert s.scalars(select(Job)).all() == []  # not left waiting for the sweep
