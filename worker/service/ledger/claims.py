"""Claiming ledger rows for one attempt, and giving a claim back or renewing it.

A claim is a conditional UPDATE: two workers ringing the same row cannot both win. The rows
of one bell message are claimed together (`claim_many`, jobs/together.py): one UPDATE for
all of them, each row still under its own condition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from worker.db.models import Job, utcnow
from worker.db.sets import among
from worker.domain.enums import JobState

# A kind's ordering rule: True while the job must wait for another (jobs.must_wait asks
# the job's kind, through the registry; this module knows no kind's rule).
OrderingRule = Callable[[Session, Job, datetime], bool]


@dataclass(frozen=True)
class Claimed:
    """A job taken for one attempt; plain values, safe to use outside the transaction."""

    id: int
    kind: str
    handoff_id: int
    payload: dict[str, Any]
    attempts: int
    # True when the row was taken not for an attempt but to be settled dead: its tries are
    # used up and the last one never settled (its process died holding it). See `claim`.
    lost: bool = False


def due_unclaimed(session: Session, kind: str, exclude: list[int], limit: int,
                  now: datetime | None = None) -> list[int]:
    """Up to `limit` rows of `kind` due now and held by no claim (never claimed, or given
    back or settled for a retry), oldest due first, none of `exclude`, and none behind a
    pending row of the same kind and hand-off (kinds sent in order, push-backs: the claim
    would only put it off again): rows a message may claim beside its own
    (jobs/together.py). A row whose lease ran out unsettled is not among them: it may be
    what killed its process, and runs alone (`claim`'s `lost`). Read with index
    ix_jobs_kind_due (migration 0016)."""
    if limit <= 0:
        return []
    now = now or utcnow()
    due = session.execute(select(Job.id, Job.handoff_id).where(
        Job.state == JobState.PENDING, Job.kind == kind, Job.next_attempt_at <= now,
        Job.locked_until.is_(None), Job.id.not_in(exclude),
    ).order_by(Job.next_attempt_at, Job.id).limit(limit)).all()
    if not due:
        return []
    # each hand-off's first pending row of the kind (a NOT EXISTS in the query above made
    # PostgreSQL read every pending row of the kind: benchmark 4 took twice as long)
    first = dict(session.execute(select(Job.handoff_id, func.min(Job.id)).where(
        among(session, Job.handoff_id, {h for _, h in due}), Job.kind == kind,
        Job.state == JobState.PENDING).group_by(Job.handoff_id)).all())
    return [i for i, h in due if first.get(h) == i]


def claim(session: Session, job_id: int, lease: float, *, waits: OrderingRule,
          max_attempts: int | None = None, now: datetime | None = None) -> Claimed | None:
    """Take a due, unlocked, pending job for one attempt; None if it is not ours to run.

    The conditional UPDATE is the guard: two workers ringing the same row cannot both win.
    While `waits` (its kind's ordering rule) holds, the job is left for a second later.

    A row with its `max_attempts` tries used whose lease ran out was never settled: its last
    try's process died holding it (an OOM kill, a crash). The bound is checked here, where
    each try is counted, because such a try never reaches the runner's settle step: without
    this a row that kills its process would be claimed again after every lease, forever.
    It is taken (locked, its count unchanged) as `lost`, for the caller to settle dead the
    way an exhausted failure is settled. Its count stays: were that process only slow, its
    answer still owns the row when it comes back (an accepted post is then done).
    """
    now = now or utcnow()
    job = session.get(Job, job_id)
    if job is None or job.state != JobState.PENDING or job.next_attempt_at > now:
        return None
    if waits(session, job, now):
        job.next_attempt_at = now + timedelta(seconds=1)
        job.rung_at = None
        return None
    lost = _lost(job, max_attempts, now)
    attempts = job.attempts + (0 if lost else 1)
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.PENDING, Job.next_attempt_at <= now,
               Job.attempts == job.attempts,
               or_(Job.locked_until.is_(None), Job.locked_until < now))
        .values(locked_until=now + timedelta(seconds=lease),
                attempts=Job.attempts + (0 if lost else 1))
        # the object's two attributes are expired below: not worked out in Python first
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    # the UPDATE matched only the count read before it: the new one is known without a
    # SELECT (the object's own copy is expired, so anything reading it later loads it fresh)
    claimed = Claimed(job.id, job.kind, job.handoff_id, dict(job.payload), attempts, lost)
    session.expire(job, ["attempts", "locked_until"])
    return claimed


def claim_many(session: Session, jobs: list[Job], lease: float, *, waits: OrderingRule,
               max_attempts: int | None = None) -> dict[int, Claimed]:
    """`claim` for rows read in this transaction under their hand-offs' locks (the runner's
    lock order), in id order as one by one, the claims written by one UPDATE ... RETURNING
    each row under `claim`'s own condition, its count included. An ordering rule may read
    its hand-off's other rows claimed (a cancel waits while the post is locked): the claims
    of a hand-off's earlier rows are written before a later row's rule is asked. A row
    whose last try never settled (`claim`'s `lost`) is left to `claim`, alone. The claims
    by job id."""
    now = utcnow()
    claims: dict[int, Claimed] = {}
    rows: dict[int, Job] = {}  # to claim in the next statement
    for job in sorted(jobs, key=lambda j: j.id):
        if job.state != JobState.PENDING or job.next_attempt_at > now:
            continue
        if any(row.handoff_id == job.handoff_id for row in rows.values()):
            claims |= _claim_rows(session, rows, lease, now)
            rows = {}
        if waits(session, job, now):
            job.next_attempt_at, job.rung_at = now + timedelta(seconds=1), None
        elif _lost(job, max_attempts, now) or not _update_returning(session):
            got = claim(session, job.id, lease, waits=waits, max_attempts=max_attempts, now=now)
            if got is not None:
                claims[job.id] = got
        else:
            rows[job.id] = job
    return claims | _claim_rows(session, rows, lease, now)


def _claim_rows(session: Session, rows: dict[int, Job], lease: float, now: datetime
                ) -> dict[int, Claimed]:
    """The rows' claims in one statement: those whose condition held."""
    if not rows:
        return {}
    won = session.execute(
        update(Job)
        .where(among(session, Job.id, rows),  # (the primary key's index, whatever the planner)
               tuple_(Job.id, Job.attempts).in_([(j.id, j.attempts) for j in rows.values()]),
               Job.state == JobState.PENDING, Job.next_attempt_at <= now,
               or_(Job.locked_until.is_(None), Job.locked_until < now))
        .values(locked_until=now + timedelta(seconds=lease), attempts=Job.attempts + 1)
        .returning(Job.id, Job.attempts).execution_options(synchronize_session=False))
    claims = {job_id: Claimed(job_id, rows[job_id].kind, rows[job_id].handoff_id,
                              dict(rows[job_id].payload), attempts) for job_id, attempts in won}
    for job in rows.values():
        session.expire(job, ["attempts", "locked_until"])
    return claims


def _lost(job: Job, max_attempts: int | None, now: datetime) -> bool:
    return (max_attempts is not None and job.attempts >= max_attempts
            and job.locked_until is not None and job.locked_until < now)


def _update_returning(session: Session) -> bool:
    """Whether the database answers an UPDATE with the rows it changed (SQLite from 3.35)."""
    return bool(session.get_bind().dialect.update_returning)


def renew(session: Session, claimed: Claimed, lease: float) -> bool:
    """A new lease for a claimed row about to be tried (it waited for a thread since its
    claim), if this attempt still holds it: whether it does. The count identifies the
    attempt because the caller renews within the claim's lease (jobs/together.py starts no
    row after half of it), while no other worker can claim the row; the condition is
    there for a caller that did not (a claim after the lease ran out raises the count)."""
    now = utcnow()
    result = session.execute(
        update(Job).where(Job.id == claimed.id, Job.state == JobState.PENDING,
                          Job.attempts == claimed.attempts)
        .values(locked_until=now + timedelta(seconds=lease)))
    return result.rowcount == 1  # type: ignore[attr-defined]


def release(session: Session, claimed: Claimed) -> None:
    """Give back a row claimed and never tried (nothing was sent): its count as before
    the claim, unlocked and unrung, for the sweep's next round; no attempt is recorded.
    Nothing happens if this attempt no longer holds it (claimed again, or settled; see
    `renew` for why the count identifies it)."""
    session.execute(
        update(Job).where(Job.id == claimed.id, Job.state == JobState.PENDING,
                          Job.attempts == claimed.attempts, Job.attempts > 0)
        .values(attempts=Job.attempts - 1, locked_until=None, rung_at=None))
