"""The job runner with fake ports and a list bell: each kind's handler prepares, performs
and settles, and what a settle creates is rung after its commit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from tests.fakes import FakeCarrier, ListBell
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.models import Attempt, Handoff, Job
from worker.domain.enums import JobKind
from worker.domain.errors import PermanentError
from worker.service import ledger, uow
from worker.service.jobs.runner import run_job
from worker.service.runtime import Runtime
from worker.settings import Settings

CODE = "000.00.17.H19-261126-0001"


def _world(db: Database, tmp_path: Path, carrier: FakeCarrier, status: str = "requested"
           ) -> tuple[Runtime, ListBell, int]:
    """A hand-off with its post queued (and taken off the bell, as a worker would)."""
    bell = ListBell()
    rt = build_runtime(settings=Settings(home=tmp_path, database_url=db.url), db=db,
                       carriers={"ngsp": carrier}, bell=bell)
    with uow.begin(rt) as s:
        h = Handoff(dossier_code=CODE, direction="result_delivery", source_item_id="hof_1",
                    order_number=f"{CODE}/R1", status=status, ready_at=datetime.now(UTC),
                    citizen_name="Nguyễn Thị Hoa", citizen_phone="0912345678")
        s.add(h)
        s.flush()
        post = ledger.enqueue(s, JobKind.POST_ORDER, h.id, f"post:{h.order_number}")
    assert post is not None and bell.take() == [post.id]
    return rt, bell, post.id


def _state(db: Database, job_id: int) -> tuple[str, str, list[str]]:
    """(job state, hand-off status, kinds of the hand-off's other pending jobs)."""
    with db.unit_of_work() as s:
        job = s.get_one(Job, job_id)
        h = s.get_one(Handoff, job.handoff_id)
        others = s.scalars(select(Job.kind).where(Job.id != job_id, Job.state == "pending"))
        return job.state, h.status, list(others)


def test_an_accepted_post_accepts_the_handoff_and_rings_its_push_back(
        sqlite_db: Database, tmp_path: Path) -> None:
    carrier = FakeCarrier()
    rt, bell, post = _world(sqlite_db, tmp_path, carrier)
    run_job(rt, post)
    assert carrier.posted == [f"{CODE}/R1"]
    assert _state(sqlite_db, post) == ("done", "accepted", ["push_status"])
    with sqlite_db.unit_of_work() as s:
        push = s.scalars(select(Job.id).where(Job.kind == "push_status")).one()
    assert bell.take() == [push]


def test_a_refused_post_is_dead_and_the_handoff_needs_attention_at_once(
        sqlite_db: Database, tmp_path: Path) -> None:
    carrier = FakeCarrier([PermanentError("sai mã vùng", code="102")])
    rt, bell, post = _world(sqlite_db, tmp_path, carrier)
    run_job(rt, post)
    assert _state(sqlite_db, post) == ("dead", "needs_attention", ["push_status"])
    assert len(bell.take()) == 1  # the one-stop is told
    with sqlite_db.unit_of_work() as s:
        assert s.scalars(select(Attempt.outcome)).all() == ["permanent"]


def test_a_post_for_a_cancelled_handoff_never_reaches_the_carrier(
        sqlite_db: Database, tmp_path: Path) -> None:
    carrier = FakeCarrier()
    rt, bell, post = _world(sqlite_db, tmp_path, carrier, status="cancelled")
    run_job(rt, post)
    assert carrier.posted == [] and bell.take() == []
    assert _state(sqlite_db, post) == ("done", "cancelled", [])


def test_a_job_of_a_kind_no_handler_knows_is_dead_not_a_crash(
        sqlite_db: Database, tmp_path: Path) -> None:
    rt, bell, post = _world(sqlite_db, tmp_path, FakeCarrier())
    with sqlite_db.unit_of_work() as s:
        s.get_one(Job, post).kind = "fax_order"
    run_job(rt, post)
    with sqlite_db.unit_of_work() as s:
        job = s.get_one(Job, post)
        assert (job.state, job.last_error) == ("dead", "unknown job kind 'fax_order'")
