"""The service tests' world: a Runtime on SQLite with fake ports, a list bell and the ledger
clock, plus the few steps a worker takes (run what was rung, sweep), driven by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from integrations.onestop.mapping import read_item
from tests.fakes import ListBell, run_rung
from tests.onestop_items import numbered
from tests.service.fakes import FakeCarrier, FakeNotifier, FakeOnestop, LedgerClock
from worker.db.models import Attempt, Handoff, Job, StatusLogEntry
from worker.domain.model import TrackingEvent
from worker.domain.statuses import Status
from worker.service.flow import tracking
from worker.service.flow.ingest import ingest_item
from worker.service.flow.ingested import Ingested
from worker.service.jobs import sweeper
from worker.service.ledger import uow
from worker.service.runtime import Runtime


@dataclass
class World:
    rt: Runtime
    carrier: FakeCarrier
    onestop: FakeOnestop
    notifier: FakeNotifier
    bell: ListBell
    clock: LedgerClock

    # --- what arrives -------------------------------------------------------------------
    def ingest(self, raw: dict[str, Any]) -> Ingested:
        """One one-stop item taken, as the feed or the webhook takes it."""
        with uow.begin(self.rt) as s:
            return ingest_item(s, read_item(raw), "onestop-feed", self.rt.settings)

    def requested(self, n: int = 1, **changes: object) -> tuple[str, int]:
        """A result delivery taken from the one-stop: (dossier code, hand-off id)."""
        got = self.ingest(numbered(n, **changes))
        assert got.outcome == "created" and got.handoff_id is not None, got
        return numbered(n)["dossierCode"], got.handoff_id

    def carrier_event(self, order_number: str, code: int, status: Status,
                      at: datetime) -> None:
        """One carrier tracking event applied, as the feed applies it."""
        ev = TrackingEvent(event_id=f"ev{code}-{order_number}", order_number=order_number,
                           item_code="EB123456785VN", occurred_at=at, raw_code=code,
                           raw_text=f"mã {code}", status=status, known_code=True)
        with uow.begin(self.rt) as s:
            tracking.apply_event(s, ev)

    # --- what a worker does -------------------------------------------------------------
    def work(self) -> None:
        """Run every job rung, and whatever those ring in turn, until the bell is quiet."""
        run_rung(self.rt, self.bell)

    def sweep(self) -> int:
        """The beat's sweep: rings every due row not rung lately; how many it rang."""
        return sweeper.sweep(self.rt)

    def sweep_and_work(self) -> None:
        self.sweep()
        self.work()

    def later(self, seconds: float) -> None:
        """Time passes, then the beat's sweep rings what came due and workers run it."""
        self.clock.advance(seconds)
        self.sweep_and_work()

    # --- what a test looks at -----------------------------------------------------------
    def handoff(self, handoff_id: int) -> Handoff:
        with self.rt.db.unit_of_work() as s:
            h = s.get_one(Handoff, handoff_id)
            s.expunge(h)
            return h

    def jobs(self, kind: str, handoff_id: int | None = None) -> list[Job]:
        """The hand-off's (or every) jobs of a kind, oldest first, detached."""
        with self.rt.db.unit_of_work() as s:
            q = select(Job).where(Job.kind == kind).order_by(Job.id)
            if handoff_id is not None:
                q = q.where(Job.handoff_id == handoff_id)
            found = list(s.scalars(q))
            s.expunge_all()
            return found

    def job(self, kind: str, handoff_id: int | None = None) -> Job:
        (found,) = self.jobs(kind, handoff_id)
        return found

    def attempts(self, job_id: int) -> list[tuple[int, str]]:
        """(number, outcome) of each try of a job, in the order they were recorded."""
        with self.rt.db.unit_of_work() as s:
            return [(a.number, a.outcome) for a in s.scalars(
                select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.id))]

    def log_reasons(self, handoff_id: int) -> list[str]:
        with self.rt.db.unit_of_work() as s:
            return list(s.scalars(select(StatusLogEntry.reason).where(
                StatusLogEntry.handoff_id == handoff_id).order_by(StatusLogEntry.id)))
