"""Helpers for tests that run the real processes: wait for the ledger, check the outside."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from tests.support.waits import log_tails, wait_for
from worker.db.engine import Database
from worker.db.models import Handoff, Job, StatusLogEntry
from worker.domain.statuses import FINAL, REPEATABLE
from worker.launch.stack import Stack


def counts(db: Database) -> dict[str, int]:
    with db.unit_of_work() as s:
        return dict(s.execute(select(Handoff.status, func.count()).group_by(Handoff.status)).all())


def _counts_or_none(db: Database) -> dict[str, int]:
    try:
        return counts(db)
    except Exception:  # the database is not there yet, or busy: nothing seen
        return {}


def wait_until(db: Database, predicate, timeout: float, what: str, stack: Stack) -> dict:
    """Wait until predicate(hand-off counts by status) holds; return those counts."""
    found: list[dict[str, int]] = [{}]

    def reached() -> bool:
        found[0] = _counts_or_none(db)
        return bool(predicate(found[0]))

    wait_for(reached, what, timeout,
             seen=lambda: f"statuses now {found[0]}; logs: {log_tails(stack.home)}")
    return found[0]


def _pending(db: Database) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(
            Job.state == "pending")) or 0)


def ledger_drained(db: Database, timeout: float, stack: Stack) -> None:
    """Wait until no outbound work is pending (push-backs trail the last status)."""
    wait_for(lambda: _pending(db) == 0, "the ledger to drain", timeout,
             seen=lambda: f"{_pending(db)} ledger rows still pending after {timeout}s")


def all_final(n: int):
    return lambda c: sum(c.values()) >= n and sum(v for k, v in c.items() if k in FINAL) >= n


def assert_each_status_reached_onestop_once(db: Database, stack: Stack,
                                            redelivery_allowed: bool = False) -> None:
    """Every applied change (beyond 'requested'), and every milestone told late (contract
    section 3), was recorded by the one-stop, exactly once.

    The simulator records an eventId once and counts a repeated one as a redelivery; a
    redelivery is legitimate only when a worker died between sending and recording.
    """
    events = stack.onestop_admin("events")
    events = events["events"] if isinstance(events, dict) else events
    if not redelivery_allowed:
        assert stack.onestop_admin("stats")["duplicate_deliveries"] == 0
    per_dossier: dict[str, Counter] = {}
    for e in events:
        per_dossier.setdefault(e["dossierCode"], Counter())[e["status"]] += 1
    with db.unit_of_work() as s:
        applied = s.execute(
            select(Handoff.dossier_code, StatusLogEntry.status, func.count())
            .join(Handoff, Handoff.id == StatusLogEntry.handoff_id)
            .where(StatusLogEntry.applied.is_(True), StatusLogEntry.status != "requested")
            .group_by(Handoff.dossier_code, StatusLogEntry.status)
        ).all()
        late = [(j.payload["dossier_code"], j.payload["status"]) for j in s.scalars(
            select(Job).where(Job.kind == "push_status")) if j.payload.get("late")]
    expected: dict[str, Counter] = {}
    for dossier, status, n in applied:
        expected.setdefault(dossier, Counter())[status] = n
    for dossier, status in late:
        expected.setdefault(dossier, Counter())[status] += 1
    diff = {d: (dict(per_dossier.get(d, {})), dict(expected.get(d, {})))
            for d in set(per_dossier) | set(expected) if per_dossier.get(d) != expected.get(d)}
    assert not diff, f"one-stop recorded vs applied here: {diff}"
    for dossier, c in per_dossier.items():
        for status, n in c.items():
            assert n == 1 or status in REPEATABLE, (dossier, status, n)
