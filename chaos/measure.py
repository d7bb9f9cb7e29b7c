"""What a chaos run counts: one table row per scenario, and the counting behind it.

Every figure is read from the outside or from the ledger after the run, never from what the
worker says about itself:
- lost: a seeded dossier with no hand-off, or one that is not final, or whose final status
  the one-stop never recorded;
- duplicate orders: a dossier with more than one live order at the post office (orders are
  grouped by the OrderNumber's part before its last "/"; a cancelled order followed by a
  reorder is not a duplicate);
- duplicate push-backs: a (dossier, status) recorded twice by the one-stop under different
  event ids, for a status that is not repeatable;
- redelivered: the same event id sent again (the one-stop deduplicates it): shown, not a
  failure; dead letters: ledger rows in state dead.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from worker.db.engine import Database
from worker.db.models import Handoff, Job, StatusLogEntry
from worker.domain.enums import JobState
from worker.domain.statuses import FINAL, REPEATABLE


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    handoffs: int
    lost: int
    duplicate_orders: int
    duplicate_pushbacks: int
    dead_letters: int
    recover_s: float | None
    notes: str = ""
    not_run: str | None = None  # "why" instead of figures
    redelivered: int = 0  # same eventId again, deduplicated by the one-stop: not a failure
    number: int = 0
    elapsed_s: float = 0.0  # the scenario's whole run, start-up included
    failed: str | None = None  # a check of the scenario's own that did not hold

    def passed(self) -> bool:
        return (self.not_run is None and self.failed is None and self.lost == 0
                and self.duplicate_orders == 0 and self.duplicate_pushbacks == 0)

    def fail(self, failures: list[str]) -> Row:
        """The scenario's own checks that did not hold: the row fails, its notes say why."""
        if failures:
            self.failed = "; ".join(failures)
            self.notes += f"; {self.failed}"
        return self

    def result(self) -> str:
        if self.not_run is not None:
            return f"not run: {self.not_run}"
        return "pass" if self.passed() else "FAIL"

    @classmethod
    def skipped(cls, scenario: str, why: str, number: int = 0) -> Row:
        return cls(scenario, 0, 0, 0, 0, 0, None, not_run=why, number=number)

    @classmethod
    def crashed(cls, scenario: str, error: BaseException, number: int = 0) -> Row:
        text = f"{type(error).__name__}: {error}".replace("\n", " ")
        return cls(scenario, 0, 0, 0, 0, 0, None, number=number,
                   failed=f"raised {text[:400]}", notes=f"raised {text[:400]}")


def final_statuses(db: Database, codes: Iterable[str]) -> dict[str, str]:
    """dossier code -> status of its latest hand-off, for the codes that have one."""
    wanted = set(codes)
    with db.unit_of_work() as s:
        rows = s.execute(select(Handoff.dossier_code, Handoff.status).order_by(Handoff.id))
        return {code: status for code, status in rows if code in wanted}


def count_lost(db: Database, codes: list[str], onestop_events: list[dict]) -> tuple[int, str]:
    """(lost, a few examples): no hand-off, not final, or the final status never told."""
    statuses = final_statuses(db, codes)
    told = {(e["dossierCode"], e["status"]) for e in onestop_events}
    missing = [c for c in codes if c not in statuses]
    open_ = [c for c in codes if c in statuses and statuses[c] not in FINAL]
    untold = [c for c in codes if statuses.get(c) in FINAL and (c, statuses[c]) not in told]
    parts = [f"{name}: {len(found)} (e.g. {found[0]})" for name, found in
             (("no hand-off", missing), ("not final", open_), ("final not told", untold))
             if found]
    return len(missing) + len(open_) + len(untold), "; ".join(parts)


def count_duplicate_orders(orders_by_number: dict[str, dict]) -> int:
    """Dossiers (and direction) with more than one order that was not cancelled."""
    live: Counter[str] = Counter()
    for number, order in orders_by_number.items():
        head, _, tail = number.rpartition("/")
        if not order.get("cancelled"):
            live[f"{head}/{tail[:1]}"] += 1
    return sum(1 for n in live.values() if n > 1)


def count_duplicate_pushbacks(onestop_events: list[dict]) -> int:
    """(dossier, status) pairs the one-stop recorded more than once, not repeatable."""
    seen = Counter((e["dossierCode"], e["status"]) for e in onestop_events)
    return sum(1 for (_, status), n in seen.items() if n > 1 and status not in REPEATABLE)


def dead_letters(db: Database) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(Job.state == "dead"))
                   or 0)


def pending_jobs(db: Database) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(
            Job.state == "pending")) or 0)


def finished_jobs(db: Database) -> int:
    """Ledger rows settled for good (done or dead): what a drain's progress is judged by."""
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(
            Job.state.in_((JobState.DONE, JobState.DEAD)))) or 0)


def pending_summary(db: Database, shown: int = 5) -> str:
    """What the pending rows are waiting on: by kind and tries, and the first few rows' times
    (seconds from now: due, rung, leased until), for a drain that did not finish."""
    now = datetime.now(UTC)

    def ago(at: datetime | None) -> str:
        if at is None:
            return "-"
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return f"{(at - now).total_seconds():+.0f}s"

    with db.unit_of_work() as s:
        rows = s.execute(select(Job.id, Job.kind, Job.attempts, Job.next_attempt_at,
                                Job.rung_at, Job.locked_until, Job.handoff_id)
                         .where(Job.state == "pending").order_by(Job.id)).all()
    kinds = Counter((r.kind, r.attempts) for r in rows)
    first = [f"#{r.id} {r.kind} h{r.handoff_id} tries {r.attempts} due {ago(r.next_attempt_at)} "
             f"rung {ago(r.rung_at)} leased {ago(r.locked_until)}" for r in rows[:shown]]
    return (", ".join(f"{k} ({n} tries): {c}" for (k, n), c in sorted(kinds.items()))
            + "; " + "; ".join(first))


def progress_mark(db: Database) -> int:
    """A number that grows whenever the system does something (status log rows written,
    ledger rows finished): what 'progress resumed' is judged by."""
    with db.unit_of_work() as s:
        logged = s.scalar(select(func.count()).select_from(StatusLogEntry)) or 0
        done = s.scalar(select(func.count()).select_from(Job).where(Job.state == "done")) or 0
    return int(logged) + int(done)


def time_until(check: Callable[[], bool], timeout: float, every: float = 0.25) -> float | None:
    """Seconds until check() holds (errors count as not yet), None past `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except Exception:  # the database restarting, say: not yet
            pass
        time.sleep(every)
    return None


def seconds_until_progress(db: Database, timeout: float,
                           mark: Callable[[Database], int] = progress_mark) -> float | None:
    """From now until the progress mark (or a scenario's own `mark`) moves past its value
    now."""
    try:
        before = mark(db)
    except Exception:
        before = -1
    return time_until(lambda: mark(db) > before, timeout)


@dataclass(frozen=True)
class Scenario:
    """One scenario: its sizes (full for `make chaos`, short for `make test`), what the
    machine must have (keys of chaos.scenarios.NEEDS), and run(world_factory, size, home)."""

    number: int
    name: str
    full: dict[str, Any]
    short: dict[str, Any]
    run: Callable[..., Row]
    needs: tuple[str, ...] = ("pg_bin", "redis_bin")
    # True when most of its time is a fault held for a fixed time (an outage, a silence, a
    # full disk, a partition) with the worker waiting: `make chaos` runs such scenarios in
    # a second process beside the busy ones (chaos.lanes)
    mostly_waits: bool = False
