"""Running ledger rows: claim and prepare, perform outside any transaction, then settle
(done, retry with backoff, or failed for good), whatever its kind; one row, or the rows of
one bell message side by side (`run_jobs`)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from worker.db import failures
from worker.db.models import Job, utcnow
from worker.domain.enums import AttemptOutcome, JobState
from worker.domain.errors import HandoffError, PermanentError, TransientError
from worker.domain.privacy import scrub
from worker.domain.rules import backoff_seconds
from worker.service import ledger
from worker.service.flow import handoffs
from worker.service.jobs import handler_for, must_wait
from worker.service.jobs.base import JobHandler, Skip, Step
from worker.service.ledger import uow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

log = logging.getLogger(__name__)

# A batch starts no row after this share of the task's time limit: a row's worst case (the
# client's short retries, a quota wait) fits in the rest, before the soft limit.
START_WITHIN = 0.5

# why a row is dead whose last try never settled (ledger.claim: `lost`)
LOST_VI = "lần thử cuối bị gián đoạn (tiến trình xử lý dừng đột ngột khi đang gửi)"


def run_jobs(rt: Runtime, job_ids: list[int]) -> None:
    """The rows of one bell message, up to `job_threads` at once, each exactly as `run_job`
    runs it: its own claim (the conditional UPDATE still decides who runs it), call and
    settle, so nothing about one row depends on the others. Concurrency only overlaps
    their waits on the post office, the one-stop and the database.

    A row whose last try never settled (its lease ran out: the process running it died) may
    be what killed that process. It runs last, alone, once the others are settled, so a
    poison row found so at the start takes down no other row's try again; the bound on
    its tries (`ledger.claim`) then ends it as it would with one row per task.

    No row starts once half the task's time limit has passed (`START_WITHIN`): a slow post
    office cannot push a batch past its limit and get it killed mid-call. The rows not
    started are left unclaimed; the sweep rings them again.
    """
    ids = list(dict.fromkeys(job_ids))
    if len(ids) == 1:
        run_job(rt, ids[0])
        return
    deadline = time.monotonic() + rt.settings.task_time_limit * START_WITHIN
    threads = min(rt.settings.job_threads, len(ids))
    suspects = _unsettled(rt, ids) if threads > 1 else set()
    rest = [i for i in ids if i not in suspects]
    if threads > 1 and len(rest) > 1:
        with ThreadPoolExecutor(threads, thread_name_prefix="job") as pool:
            list(pool.map(lambda i: _run_caught(rt, i, deadline), rest))
    else:
        for job_id in rest:
            _run_caught(rt, job_id, deadline)
    for job_id in sorted(suspects):
        _run_caught(rt, job_id, deadline)


def _unsettled(rt: Runtime, ids: list[int]) -> set[int]:
    """The rows among `ids` whose last try was claimed and never settled."""
    with uow.read(rt) as session:
        return set(session.scalars(select(Job.id).where(
            Job.id.in_(ids), Job.state == JobState.PENDING,
            Job.locked_until.is_not(None), Job.locked_until < utcnow())))


def _run_caught(rt: Runtime, job_id: int, deadline: float) -> None:
    """One row of a batch: its failure (the database away, say) is logged and left to the
    row's lease and the sweep, never taken out on the rows beside it. Past `deadline` it
    is not started (its ring is marked: the sweep rings it again)."""
    if time.monotonic() >= deadline:
        log.info("job %s left for the sweep: the batch's time is up", job_id)
        return
    try:
        run_job(rt, job_id)
    except Exception as err:
        if isinstance(err, tuple(failures.ABORTS)):  # the task's time is up: stop here
            raise
        log.warning("job %s not run: %s", job_id, scrub(f"{type(err).__name__}: {err}"))


def run_job(rt: Runtime, job_id: int) -> None:
    """One attempt of one job. Jobs it creates are rung after their commit (uow)."""
    claimed = _claim(rt, job_id)
    if claimed is None:
        return
    job, handler, request = claimed
    started = time.monotonic()
    outcome: Any = None
    failure: HandoffError | None = None
    try:
        outcome = handler.perform(rt, request)
    except (PermanentError, TransientError) as err:
        failure = err
    except Exception as err:  # a bug or an unexpected reply: retried, never crashes the worker
        log.error("job %s (%s) failed unexpectedly: %s", job.id, job.kind, type(err).__name__)
        failure = TransientError(f"lỗi không mong đợi ({type(err).__name__})")
    took = int((time.monotonic() - started) * 1000)
    _settle(rt, job, handler, outcome, failure, took)


def _claim(rt: Runtime, job_id: int
           ) -> tuple[ledger.Claimed, JobHandler[Any, Any], Any] | None:
    """Take the job for one attempt and prepare its request, in one transaction."""
    with uow.begin(rt) as session:
        # lock order everywhere: the hand-off first, then its jobs (no deadlock on PostgreSQL)
        handoff_id = ledger.handoff_of(session, job_id)
        if handoff_id is None:
            return None
        step = Step(session, handoffs.locked(session, handoff_id), rt.settings)
        job = ledger.claim(session, job_id, rt.settings.lease_seconds, waits=must_wait,
                           max_attempts=rt.settings.max_attempts)
        if job is None:
            return None
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
    return job, handler, request


def _settle(rt: Runtime, job: ledger.Claimed, handler: JobHandler[Any, Any], outcome: Any,
            failure: HandoffError | None, duration_ms: int) -> None:
    s = rt.settings
    with uow.begin(rt) as session:
        step = Step(session, handoffs.locked(session, job.handoff_id), s)
        if failure is None:
            ledger.settle_done(session, job, duration_ms=duration_ms)
            handler.settle(step, job, outcome)
        elif isinstance(failure, TransientError) and job.attempts < s.max_attempts:
            wait = backoff_seconds(job.attempts, s.backoff_base_seconds,
                                   s.backoff_max_seconds, failure.retry_after)
            ledger.settle_retry(session, job, scrub(str(failure)), wait, duration_ms)
            log.info("job %s %s: transient (%s), retry in %.0fs", job.id, job.kind,
                     scrub(str(failure)), wait)
        elif not ledger.is_current(session, job):
            # a newer attempt owns the row (this one's lock ran out): the stale attempt
            # records only its try and never touches the hand-off the newer one settled
            ledger.settle_dead(session, job, scrub(str(failure)), AttemptOutcome.PERMANENT
                               if isinstance(failure, PermanentError)
                               else AttemptOutcome.EXHAUSTED, duration_ms)
        else:
            handler.settle_failure(step, job, failure, duration_ms)
