"""Running one ledger row: claim and prepare, perform outside any transaction, then settle
(done, retry with backoff, or failed for good), whatever its kind. The steps inside a
transaction (`take`, `settle`) are written once, for `run_job` (one row, a transaction for
each step) and for `together.run_jobs` (the rows of one bell message, a transaction for
each step of them all)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worker.domain.enums import AttemptOutcome
from worker.domain.errors import HandoffError, PermanentError, TransientError
from worker.domain.privacy import scrub
from worker.domain.rules import backoff_seconds
from worker.service import ledger
from worker.service.flow import handoffs
from worker.service.jobs import handler_for, must_wait
from worker.service.jobs.base import JobHandler, Skip, Step
from worker.service.ledger import uow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from worker.db.models import Job
    from worker.service.runtime import Runtime
    from worker.settings import Settings

log = logging.getLogger(__name__)

# why a row is dead whose last try never settled (ledger.claim: `lost`)
LOST_VI = "lần thử cuối bị gián đoạn (tiến trình xử lý dừng đột ngột khi đang gửi)"


@dataclass(frozen=True)
class Taken:
    """A row claimed for one attempt, with what its call needs (prepared under the claim)."""

    job: ledger.Claimed
    handler: JobHandler[Any, Any]
    request: Any


@dataclass(frozen=True)
class Answer:
    """What one attempt came to: the outcome or the failure, and how long the call took.
    `sent` is False for a row given back untried (together.py: too late to start)."""

    taken: Taken
    outcome: Any
    failure: HandoffError | None
    duration_ms: int
    sent: bool = True


def run_job(rt: Runtime, job_id: int) -> None:
    """One attempt of one job. Jobs it creates are rung after their commit (uow)."""
    with uow.begin(rt) as session:
        # lock order everywhere: the hand-off first, then its jobs (no deadlock on PostgreSQL)
        handoff_id = ledger.handoff_of(session, job_id)
        if handoff_id is None:
            return
        taken = take(Step(session, handoffs.locked(session, handoff_id), rt.settings), job_id)
    if taken is None:
        return
    answer = perform(rt, taken)
    with uow.begin(rt) as session:
        settle(Step(session, handoffs.locked(session, taken.job.handoff_id), rt.settings),
               answer)


def take(step: Step, job_id: int) -> Taken | None:
    """Claim the job for one attempt and prepare its request, its hand-off locked in
    `step`; None when there is nothing to send (not ours to run, settled here, skipped)."""
    job = ledger.claim(step.session, job_id, step.settings.lease_seconds, waits=must_wait,
                       max_attempts=step.settings.max_attempts)
    return prepared(step, job) if job is not None else None


def claim_many(session: Session, settings: Settings, jobs: list[Job]
               ) -> dict[int, ledger.Claimed]:
    """`take`'s claim for the rows of one transaction (together.py), in one statement."""
    return ledger.claim_many(session, jobs, settings.lease_seconds, waits=must_wait,
                             max_attempts=settings.max_attempts)


def prepared(step: Step, job: ledger.Claimed) -> Taken | None:
    """The claimed job's request, prepared under the claim; None when there is nothing to
    send (settled here, skipped)."""
    session = step.session
    handler = handler_for(job.kind)
    if handler is None:  # written by a newer version, or by hand: a person must look
        log.error("job %s has unknown kind %r", job.id, job.kind)
        ledger.settle_dead(session, job, f"unknown job kind {job.kind!r}")
        return None
    if job.lost:  # its tries used up, the last one's process died: exhausted, as any
        handler.settle_failure(step, job, TransientError(LOST_VI), None)
        return None
    request = handler.prepare(step, job)
    if isinstance(request, Skip):
        if request.dead:  # a hold: nothing was sent, so no answer is recorded as one
            ledger.settle_dead(session, job, request.note, AttemptOutcome.HELD)
        else:
            ledger.settle_done(session, job, note=request.note)
        return None
    return Taken(job, handler, request)


def perform(rt: Runtime, taken: Taken) -> Answer:
    """The call, outside any transaction. Never raises: a failure is the answer."""
    job = taken.job
    started = time.monotonic()
    outcome: Any = None
    failure: HandoffError | None = None
    try:
        outcome = taken.handler.perform(rt, taken.request)
    except (PermanentError, TransientError) as err:
        failure = err
    except Exception as err:  # a bug or an unexpected reply: retried, never crashes the worker
        log.error("job %s (%s) failed unexpectedly: %s", job.id, job.kind, type(err).__name__)
        failure = TransientError(f"lỗi không mong đợi ({type(err).__name__})")
    return Answer(taken, outcome, failure, int((time.monotonic() - started) * 1000))


def settle(step: Step, answer: Answer) -> None:
    """Record the attempt and apply what its answer means, its hand-off locked in `step`."""
    s, session = step.settings, step.session
    job, handler, failure = answer.taken.job, answer.taken.handler, answer.failure
    took = answer.duration_ms
    if not answer.sent:
        ledger.release(session, job)
    elif failure is None:
        ledger.settle_done(session, job, duration_ms=took)
        handler.settle(step, job, answer.outcome)
    elif isinstance(failure, TransientError) and job.attempts < s.max_attempts:
        wait = backoff_seconds(job.attempts, s.backoff_base_seconds,
                               s.backoff_max_seconds, failure.retry_after)
        ledger.settle_retry(session, job, scrub(str(failure)), wait, took)
        log.info("job %s %s: transient (%s), retry in %.0fs", job.id, job.kind,
                 scrub(str(failure)), wait)
    elif not ledger.is_current(session, job):
        # a newer attempt owns the row (this one's lock ran out): the stale attempt
        # records only its try and never touches the hand-off the newer one settled
        ledger.settle_dead(session, job, scrub(str(failure)), AttemptOutcome.PERMANENT
                           if isinstance(failure, PermanentError)
                           else AttemptOutcome.EXHAUSTED, took)
    else:
        handler.settle_failure(step, job, failure, took)
