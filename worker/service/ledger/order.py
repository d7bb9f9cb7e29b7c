"""The order of a hand-off's rows of one kind (push-backs): a later row waits while an
earlier one is pending (`waits_for_earlier`, the kind's ordering rule), and once one is
settled the next is made due and collected to be rung (`ring_next`), or taken at once by
the settle that brought its turn (jobs/shared.py, `rung_next`). The pending rows of many
hand-offs can be read once for a transaction (`read_pending_ahead`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from worker.db.models import Job, utcnow
from worker.db.sets import among
from worker.domain.enums import JobKind, JobState
from worker.service.ledger.claims import Claimed
from worker.service.ledger.uow import collect

# the pending rows of hand-offs read by `read_pending_ahead`, by hand-off id
_PENDING = "ledger.pending_ahead"

# the rows `ring_next` made due in the session's transaction
_NEXT = "ledger.rung_next"


def ring_next(session: Session, claimed: Claimed) -> Job | None:
    """Once a job of an ordered kind is settled (done or dead), the hand-off's next pending
    job of that kind: made due now if it never ran (it waited only for its turn, see
    `claim`) and collected to be rung after commit, so it goes out as soon as this one is
    answered instead of on the sweep's next round. A retry keeps its backoff. The caller
    holds the hand-off's lock, which every claim takes first: no one claims it meanwhile."""
    now = utcnow()
    ahead = _pending_ahead(session, claimed.handoff_id, claimed.kind)
    if ahead is not None:
        job = next((j for j in ahead if j.id > claimed.id), None)
    else:
        # no_autoflush: none of the rows this reads is changed unwritten in this session
        # (the settled job is not among them: id > its id); the session's changes wait for
        # the commit, written with those of the batch's other rows (worker/db/inserts.py
        # `add_new`). A row enqueued in this transaction and not yet written
        # (`written_together`) is not seen here, and needs not be: `enqueue` collected it
        # to be rung already
        with session.no_autoflush:
            job = session.scalar(select(Job).where(
                Job.handoff_id == claimed.handoff_id, Job.kind == claimed.kind,
                Job.state == JobState.PENDING, Job.id > claimed.id).order_by(Job.id).limit(1))
    if job is None:
        return None
    if job.attempts == 0 and job.next_attempt_at > now:
        job.next_attempt_at = now
    if job.next_attempt_at <= now:
        collect(session, job)
        session.info.setdefault(_NEXT, []).append(job)
    return job


def rung_next(session: Session) -> list[Job]:
    """The rows `ring_next` made due in this transaction, to be rung after its commit:
    each the next of its hand-off, its turn come (jobs/shared.py takes them at once)."""
    return list(session.info.get(_NEXT, []))


def waits_for_earlier(session: Session, job: Job) -> bool:
    """Whether the hand-off has a pending job of `job`'s kind older than it (the ordering
    rule of push-backs: jobs/push_status.py)."""
    ahead = _pending_ahead(session, job.handoff_id, job.kind)
    if ahead is not None:
        return any(j.id < job.id for j in ahead)
    return has_job(session, job.handoff_id, JobKind(job.kind), Job.state == JobState.PENDING,
                   Job.id < job.id)


def read_pending_ahead(session: Session, handoff_ids: Iterable[int]) -> None:
    """The pending rows of these hand-offs, read in one statement and kept on the session,
    for the ordering rule (`waits_for_earlier`) and `ring_next` of a message's rows: each
    read its own row before, two statements of a push-back row's 2.6 (bench/round_trips.py).
    The caller holds the hand-offs' locks, taken before this read, for the rest of the
    transaction: every claim and every settle takes a row's hand-off first, and so does
    every change that queues a row, so no other transaction changes or adds these rows
    until it commits. This transaction's own changes to them are seen (the session's
    objects are read, their state at the time asked); rows it adds are not, and need not be
    (`ring_next`). Called right after the locks, before the transaction changes any of
    these rows: the read refreshes the session's objects of them (populate_existing),
    which would drop a change not yet written."""
    ids = list(set(handoff_ids))
    found: dict[int, list[Job]] = {hid: [] for hid in ids}
    with session.no_autoflush:
        for job in session.scalars(select(Job).where(
                among(session, Job.handoff_id, ids), Job.state == JobState.PENDING)
                .order_by(Job.id)
                .execution_options(populate_existing=True)):
            found[job.handoff_id].append(job)
    session.info.setdefault(_PENDING, {}).update(found)


def _pending_ahead(session: Session, handoff_id: int, kind: str) -> list[Job] | None:
    """The hand-off's rows of `kind` read by `read_pending_ahead` that are still pending,
    in id order; None when they were not read ahead (the caller then asks the database)."""
    known = session.info.get(_PENDING, {}).get(handoff_id)
    if known is None:
        return None
    return [j for j in known if j.kind == kind and j.state == JobState.PENDING]


def has_job(session: Session, handoff_id: int, kind: JobKind,
            *where: ColumnElement[bool]) -> bool:
    """Whether the hand-off has a job of `kind` meeting `where` (for ordering rules)."""
    return session.scalar(
        select(Job.id).where(Job.handoff_id == handoff_id, Job.kind == kind, *where).limit(1)
    ) is not None
