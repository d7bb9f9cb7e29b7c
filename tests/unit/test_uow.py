"""The unit of work rings the bell for the rows it created only once they are committed."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.fakes import ListBell
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.models import Handoff, Job
from worker.domain.enums import JobKind
from worker.service import ledger
from worker.service.flow import desk
from worker.service.jobs import HANDLERS, handler_for, sweeper
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.settings import Settings

CODE = "000.00.17.H19-261126-0001"


class CommittedBell(ListBell):
    """Rings only what another connection can already read: proof the commit came first.
    It reads with a plain sqlite3 connection (WAL: never waits for the writer's lock)."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.path = db.url.split("///", 1)[1]

    def ring(self, job_ids: Sequence[int], *, first: bool = False) -> int:
        with closing(sqlite3.connect(self.path)) as conn:
            seen = {row[0] for row in conn.execute("SELECT id FROM jobs WHERE state = 'pending'")}
        assert set(job_ids) <= seen, "rung before its commit"
        return super().ring(job_ids, first=first)


def _runtime(db: Database, tmp_path: Path, bell: ListBell) -> Runtime:
    return build_runtime(settings=Settings(home=tmp_path, database_url=db.url), db=db, bell=bell)


def _handoff(db: Database) -> int:
    with db.unit_of_work() as s:
        h = Handoff(dossier_code=CODE, direction="result_delivery", source_item_id="hof_1",
                    order_number=f"{CODE}/R1", status="requested", ready_at=datetime.now(UTC))
        s.add(h)
        s.flush()
        return h.id


def test_a_desk_order_is_rung_once_committed_and_a_second_click_rings_nothing(
        sqlite_db: Database, tmp_path: Path) -> None:
    _handoff(sqlite_db)
    bell = CommittedBell(sqlite_db)
    rt = _runtime(sqlite_db, tmp_path, bell)
    assert [o.outcome for o in desk.request_pickups(rt, [CODE], actor="lan")] == ["ordered"]
    with sqlite_db.unit_of_work() as s:
        post = s.scalars(select(Job.id).where(Job.kind == "post_order")).one()
    assert bell.take() == [post]
    assert desk.request_pickups(rt, [CODE], actor="lan")[0].outcome == "already_ordered"
    assert bell.take() == []


def test_the_carrier_s_rows_are_rung_first_apart_by_a_commit_and_by_the_sweep(
        sqlite_db: Database, tmp_path: Path) -> None:
    """A courier order and a cancel are rung where the workers look first (their own
    queue, worker/launch/queues.py), a push-back where the other rows go: a post retried
    after a 429 never waits behind a burst's push-backs."""
    hid = _handoff(sqlite_db)
    bell = CommittedBell(sqlite_db)
    rt = _runtime(sqlite_db, tmp_path, bell)
    with uow.begin(rt) as s:
        ledger.enqueue(s, JobKind.PUSH_STATUS, hid, "push:one", {})
        ledger.enqueue(s, JobKind.POST_ORDER, hid, "post:one")
        ledger.enqueue(s, JobKind.CANCEL_ORDER, hid, "cancel:one", {})
    with sqlite_db.unit_of_work() as s:
        ids = dict(s.execute(select(Job.idempotency_key, Job.id)).tuples().all())
    carrier = [ids["post:one"], ids["cancel:one"]]
    assert (bell.take(), bell.rung_first) == ([*carrier, ids["push:one"]], carrier)
    bell.rung_first.clear()
    with sqlite_db.unit_of_work() as s:  # their rings lost: the sweep rings them again
        s.execute(update(Job).values(rung_at=None))
    assert sweeper.sweep(rt) == 3
    assert sorted(bell.take()) == sorted(ids.values())
    assert sorted(bell.rung_first) == sorted(carrier)
    with sqlite_db.unit_of_work() as s:  # a round of one: the carrier's before older rows
        s.execute(update(Job).values(rung_at=None))
        s.execute(update(Job).where(Job.id == ids["push:one"])
                  .values(next_attempt_at=datetime(2026, 1, 1, tzinfo=UTC)))
        assert ledger.due_jobs(s, 60.0, limit=1) == [(min(carrier), True)]


def test_a_failed_transaction_rings_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    hid = _handoff(sqlite_db)
    bell = ListBell()
    rt = _runtime(sqlite_db, tmp_path, bell)
    with pytest.raises(RuntimeError), uow.begin(rt) as s:
        assert ledger.enqueue(s, JobKind.POST_ORDER, hid, "post:x") is not None
        raise RuntimeError("after the job was added")
    assert bell.rung == []
    with sqlite_db.unit_of_work() as s:
        assert s.scalars(select(Job)).all() == []


def test_a_row_added_in_a_savepoint_that_rolled_back_is_not_rung(
        sqlite_db: Database, tmp_path: Path) -> None:
    hid = _handoff(sqlite_db)
    bell = CommittedBell(sqlite_db)
    rt = _runtime(sqlite_db, tmp_path, bell)
    with uow.begin(rt) as s:
        kept = _kept_beside_a_dropped_row(s, hid)
    assert kept is not None and bell.take() == [kept.id]


def _kept_beside_a_dropped_row(s: Session, hid: int) -> Job | None:
    """A row enqueued, then one enqueued in a savepoint that rolls back: the first."""
    kept = ledger.enqueue(s, JobKind.POST_ORDER, hid, "post:kept")
    try:
        with s.begin_nested():
            ledger.enqueue(s, JobKind.CANCEL_ORDER, hid, "cancel:dropped")
            raise ValueError("the entry is quarantined")
    except ValueError:
        pass
    return kept


def test_a_known_key_adds_nothing_and_only_rows_still_there_are_rung(
        database: Database, tmp_path: Path) -> None:
    """On both databases the ledger's insert is one statement (ON CONFLICT DO NOTHING
    RETURNING); a row it wrote in a savepoint that rolled back stays an object of the
    session, and must still not be rung."""
    hid = _handoff(database)
    bell = ListBell()
    rt = _runtime(database, tmp_path, bell)
    with uow.begin(rt) as s:
        kept = _kept_beside_a_dropped_row(s, hid)
        assert ledger.enqueue(s, JobKind.POST_ORDER, hid, "post:kept") is None
        later = ledger.enqueue(s, JobKind.PUSH_STATUS, hid, "push:later")
    assert kept is not None and later is not None
    # (SQLite gives the rolled-back row's id to the next: its object is not the old one)
    assert (later.kind, later.idempotency_key) == (JobKind.PUSH_STATUS, "push:later")
    assert bell.take() == [kept.id, later.id]
    with database.unit_of_work() as s:
        rows = s.execute(select(Job.idempotency_key, Job.rung_at).order_by(Job.id)).all()
    assert [key for key, _ in rows] == ["post:kept", "push:later"]
    assert all(rung is not None for _, rung in rows)


def test_a_revived_dead_row_is_rung_after_commit(sqlite_db: Database, tmp_path: Path) -> None:
    hid = _handoff(sqlite_db)
    with sqlite_db.unit_of_work() as s:
        s.add(Job(kind="push_status", handoff_id=hid, idempotency_key="push:pev_1",
                  state="dead", attempts=12, last_error="HTTP 422"))
    bell = CommittedBell(sqlite_db)
    rt = _runtime(sqlite_db, tmp_path, bell)
    with uow.begin(rt) as s:
        job = ledger.revive(s, "push:pev_1")
    assert job is not None and bell.take() == [job.id]


def test_every_job_kind_has_a_handler_and_an_unknown_kind_has_none() -> None:
    assert set(HANDLERS) == set(JobKind)
    assert handler_for("post_order") is HANDLERS[JobKind.POST_ORDER]
    assert handler_for("fax_order") is None


class CountingBell(CommittedBell):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.calls: list[list[int]] = []

    def ring(self, job_ids: Sequence[int], *, first: bool = False) -> int:
        self.calls.append(list(job_ids))
        return super().ring(job_ids, first=first)


def test_a_desk_batch_rings_once_for_all_its_posts_after_the_last_commit(
        sqlite_db: Database, tmp_path: Path) -> None:
    codes = [f"000.00.17.H19-261126-{n:04d}" for n in range(1, 4)]
    with sqlite_db.unit_of_work() as s:
        for n, code in enumerate(codes):
            s.add(Handoff(dossier_code=code, direction="result_delivery",
                          source_item_id=f"hof_{n}", order_number=f"{code}/R1",
                          status="requested", ready_at=datetime.now(UTC)))
    bell = CountingBell(sqlite_db)
    rt = _runtime(sqlite_db, tmp_path, bell)
    outcomes = desk.request_pickups(rt, [*codes, "not-a-code"], actor="lan")
    assert [o.outcome for o in outcomes] == ["ordered"] * 3 + ["refused"]
    with sqlite_db.unit_of_work() as s:
        posts = list(s.scalars(select(Job.id).where(Job.kind == JobKind.POST_ORDER)))
    assert bell.calls == [posts]  # one ring for the batch: one publish round, one update


def test_rows_committed_before_an_error_in_a_batch_are_still_rung(
        sqlite_db: Database, tmp_path: Path) -> None:
    hid = _handoff(sqlite_db)
    bell = CountingBell(sqlite_db)
    rt = _runtime(sqlite_db, tmp_path, bell)
    with pytest.raises(RuntimeError), uow.batch(rt):
        with uow.begin(rt) as s:
            ledger.enqueue(s, JobKind.POST_ORDER, hid, "post:x")
        assert bell.calls == []  # held until the batch ends
        raise RuntimeError("the page failed after the first dossier")
    assert len(bell.calls) == 1 and len(bell.calls[0]) == 1
