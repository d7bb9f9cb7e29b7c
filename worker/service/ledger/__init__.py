"""The outbound ledger: enqueue, claim, and settle rows of work on the outside world.

The package is the ledger (this module, so `ledger.enqueue(...)` reads the same everywhere)
with its machinery: claims (`claims`), the order of a hand-off's rows (`order`), the unit
of work that rings new rows after commit (`uow`) and leases (`leases`). It knows no use
case: the flow, the jobs and the operators build on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from worker.db.inserts import add_new, add_new_many
from worker.db.models import Attempt, Job, utcnow
from worker.db.sets import among
from worker.domain.enums import AttemptOutcome, JobKind, JobState
from worker.service.ledger import uow
from worker.service.ledger.claims import Claimed as Claimed  # (callers know them from here)
from worker.service.ledger.claims import OrderingRule as OrderingRule
from worker.service.ledger.claims import claim as claim
from worker.service.ledger.claims import claim_many as claim_many
from worker.service.ledger.claims import due_unclaimed as due_unclaimed
from worker.service.ledger.claims import release as release
from worker.service.ledger.claims import renew as renew
from worker.service.ledger.order import has_job as has_job
from worker.service.ledger.order import read_pending_ahead as read_pending_ahead
from worker.service.ledger.order import ring_next as ring_next
from worker.service.ledger.order import rung_next as rung_next
from worker.service.ledger.order import waits_for_earlier as waits_for_earlier
from worker.service.ledger.uow import collect

# how an exhausted row's error reads for people (decisions read the attempt's outcome)
EXHAUSTED_PREFIX = "không gửi được sau"

# set on a session whose new rows `enqueue` leaves to the flush (`written_together`)
_WRITTEN_TOGETHER = "ledger.written_together"

# the session's rows locked by `lock_jobs`, by id (held here: a session holds its objects
# weakly, and these are read again by each settle step)
_LOCKED = "ledger.locked_jobs"


def enqueue(session: Session, kind: JobKind, handoff_id: int, key: str,
            payload: dict[str, Any] | None = None, *, at: datetime | None = None) -> Job | None:
    """Add a job unless one with the same idempotency key exists. Returns the new job,
    collected for the unit of work to ring after commit.

    The unique index decides, in one statement (`INSERT ... ON CONFLICT DO NOTHING
    RETURNING`, worker/db/inserts.py): two clerks (or two processes) adding the same key
    at once get one row, and the loser is told None. No look-up first and no savepoint: a
    new key is by far the common case (every hand-off's post, every milestone's push), and
    a savepoint cost two round trips and a flush of the session on every one of them.
    Within `written_together` the row is only added (never None): a known key fails the
    transaction's flush instead.
    """
    values = dict(kind=kind, handoff_id=handoff_id, idempotency_key=key,
                  payload=payload or {}, next_attempt_at=at or utcnow())
    if session.info.get(_WRITTEN_TOGETHER):
        job: Job | None = Job(**values)
        session.add(job)  # written with the transaction's others, one INSERT at its flush
    else:
        job = add_new(session, Job, values)
    collect(session, job)
    return job


@contextmanager
def written_together(session: Session) -> Iterator[None]:
    """Within it, `enqueue` adds its rows to the session instead of writing each with a
    statement of its own: the unit of work writes them together at the next flush (one
    INSERT, in the order they were added: SQLAlchemy's ordered insertmanyvalues). For a
    transaction that settles many answers (together.settle_answers): the push-back each
    accepted post queues was a round trip of its own, a sixth of a pool process's CPU in a
    burst. A key that exists already is no longer told as None but fails the flush, and so
    the transaction: its caller must take its work again without this (settle_answers takes
    the answers again one transaction each), and only where a known key is rare."""
    session.info[_WRITTEN_TOGETHER] = True
    try:
        yield
    finally:
        session.info.pop(_WRITTEN_TOGETHER, None)


def enqueue_many(session: Session, kind: JobKind, rows: list[tuple[int, str, dict[str, Any]]]
                 ) -> list[Job | None]:
    """`enqueue` for many (handoff_id, key, payload) rows in one statement (a page of
    hand-offs' posts); the new jobs in the rows' order, None where the key was known."""
    now = utcnow()
    values = [dict(kind=kind, handoff_id=handoff_id, idempotency_key=key, payload=payload,
                   next_attempt_at=now) for handoff_id, key, payload in rows]
    written = add_new_many(session, Job, values, "idempotency_key")
    if written is None:  # a database that cannot: one statement each
        return [enqueue(session, kind, *row) for row in rows]
    jobs = [written.pop(key, None) for _, key, _ in rows]  # a key given twice: one job
    for job in jobs:
        collect(session, job)
    return jobs


def handoff_of(session: Session, job_id: int) -> int | None:
    return session.scalar(select(Job.handoff_id).where(Job.id == job_id))


def revive(session: Session, key: str) -> Job | None:
    """A dead job back to pending from scratch (its cause was fixed), collected for the
    unit of work to ring after commit; None if not dead."""
    job = session.scalar(select(Job).where(Job.idempotency_key == key).with_for_update())
    if job is None or job.state != JobState.DEAD:
        return None
    job.state, job.attempts, job.next_attempt_at = JobState.PENDING, 0, utcnow()
    job.rung_at, job.locked_until = None, None
    collect(session, job)
    return job


def stop_pending_post(session: Session, handoff_id: int, why: str) -> tuple[bool, bool]:
    """Stop a hand-off's post that is waiting (not on the wire). Returns (stopped,
    reached_carrier): reached_carrier is True when a post may have reached the carrier
    (it was tried before, or it is on the wire right now)."""
    now = utcnow()
    post = session.scalar(select(Job).where(Job.handoff_id == handoff_id,
                                            Job.kind == JobKind.POST_ORDER).with_for_update())
    if post is None:
        return False, False
    in_flight = post.locked_until is not None and post.locked_until > now
    if post.state == JobState.PENDING and not in_flight:
        post.state, post.last_error = JobState.DONE, f"stopped: {why}"
        return True, post.attempts > 0
    return False, post.attempts > 0 or post.state == JobState.DONE


def lock_jobs(session: Session, job_ids: list[int]) -> None:
    """Lock the rows (their hand-offs locked first, the order everywhere) in one statement,
    and keep them on the session for the settle steps after it (`_mine`), which then read
    no row again."""
    rows = session.scalars(select(Job).where(among(session, Job.id, job_ids)).order_by(Job.id)
                           .with_for_update().execution_options(populate_existing=True))
    session.info.setdefault(_LOCKED, {}).update({job.id: job for job in rows})


def _mine(session: Session, claimed: Claimed) -> Job | None:
    """The job, if this attempt is still the latest. After a lease ran out another worker
    may have claimed it again: the stale attempt then records only its try, never the state.
    """
    job = session.info.get(_LOCKED, {}).get(claimed.id)  # locked and read by lock_jobs
    if job is None:
        job = session.get_one(Job, claimed.id, with_for_update=True)
    return job if job.attempts == claimed.attempts else None


def is_current(session: Session, claimed: Claimed) -> bool:
    """True while this attempt is still the job's latest (it may settle the hand-off)."""
    return _mine(session, claimed) is not None


def _record(session: Session, claimed: Claimed, outcome: AttemptOutcome, error: str,
            duration_ms: int | None) -> None:
    session.add(Attempt(job_id=claimed.id, number=claimed.attempts, outcome=outcome,
                        error=error, duration_ms=duration_ms))


def settle_done(session: Session, claimed: Claimed, note: str = "",
                duration_ms: int | None = None) -> None:
    job = _mine(session, claimed)
    if job is not None:
        job.state, job.done_at, job.locked_until, job.last_error = JobState.DONE, utcnow(), None, ""
    _record(session, claimed, AttemptOutcome.OK, note, duration_ms)


def settle_retry(session: Session, claimed: Claimed, error: str, wait: float,
                 duration_ms: int | None = None) -> None:
    job = _mine(session, claimed)
    if job is not None:
        job.next_attempt_at = utcnow() + timedelta(seconds=wait)
        job.locked_until, job.rung_at, job.last_error = None, None, error
    _record(session, claimed, AttemptOutcome.TRANSIENT, error, duration_ms)


def settle_dead(session: Session, claimed: Claimed, error: str,
                outcome: AttemptOutcome = AttemptOutcome.PERMANENT,
                duration_ms: int | None = None) -> None:
    job = _mine(session, claimed)
    if job is not None:
        job.state, job.locked_until, job.last_error = JobState.DEAD, None, error
    _record(session, claimed, outcome, error, duration_ms)


def due_jobs(session: Session, redispatch_after: float, limit: int = 500,
             now: datetime | None = None) -> list[tuple[int, bool]]:
    """Rows due and not rung recently (or whose ring was lost), marked rung: (id, whether
    the carrier's, for uow.ring, which rings those first). The
    carrier's rows are taken first: in a long burst thousands of push-backs wait in the
    broker past `redispatch_after` and come due again, and by age alone they filled every
    round, ahead of a post retried after a 429."""
    now = now or utcnow()
    stale = now - timedelta(seconds=redispatch_after)
    rows = list(session.execute(
        select(Job.id, Job.kind).where(
            Job.state == JobState.PENDING, Job.next_attempt_at <= now,
            or_(Job.rung_at.is_(None), Job.rung_at < stale),
            or_(Job.locked_until.is_(None), Job.locked_until < now),
        ).order_by(case((Job.kind.in_(list(uow.CARRIER_KINDS)), 0), else_=1),
                   Job.next_attempt_at, Job.id).limit(limit)
        # rows a claim or a settle holds are about to run or be settled: not waited for
        # (the sweep never waits on the job runner's locks, nor they on it)
        .with_for_update(skip_locked=True)
    ))
    if rows:
        session.execute(update(Job).where(among(session, Job.id, [i for i, _ in rows]))
                        .values(rung_at=now))
    return [(i, kind in uow.CARRIER_KINDS) for i, kind in rows]


def unmark_rung(session: Session, job_ids: list[int]) -> None:
    """Rows whose ring never left (the broker down): due for the sweep's next round."""
    if job_ids:
        session.execute(update(Job).where(Job.id.in_(job_ids)).values(rung_at=None))
