"""The rows of one bell message run together: claimed in one transaction, their calls made
side by side on the process's `job_threads` threads, and their answers settled as they
come, the answers in hand in one transaction (the threads and the settler outlive the
message: inflight.py, so the next message's rows are claimed while its last calls are in
flight). Each row is still its own: its own conditional claim
(ledger.claim decides who runs it), its own call and its own settle; only the
transactions around them are shared, and with them the round trips and the session's
work of beginning, locking and committing, which were most of a row's cost.

A claimed row may wait for a free thread. One that waited longer than a small share of
its lease has the lease renewed before its call (conditionally, as a claim: should the
lease have run out and another worker have claimed it, this one sends nothing), so every
call starts with nearly its whole lease, as if the row had been claimed just then. Should
a shared transaction fail, it is taken again one transaction a row (shared.py: the
claims and settles the rows share).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from sqlalchemy import select

from worker.db import failures
from worker.db.models import Job, utcnow
from worker.db.sets import among
from worker.domain.enums import JobKind, JobState
from worker.domain.privacy import scrub
from worker.service import ledger
from worker.service.jobs import inflight
from worker.service.jobs.runner import Answer, Taken, perform, run_job
from worker.service.jobs.shared import not_run, settle_answers, take_all
from worker.service.ledger import uow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

__all__ = ["run_jobs", "settle_and_go_on", "settle_answers", "settled", "stop_in_flight"]

log = logging.getLogger(__name__)

# No row's call starts after this share of the task's time limit (a row's worst case, the
# client's short retries and a quota wait, fits in the rest, before the soft limit), nor
# after this share of its lease since its claim: until then no other worker can claim it,
# so its renewal (below) always finds it this attempt's. A claimed row not started by then
# is given back untried (ledger.release) for the sweep: its call is cancelled then
# (inflight.py `give_back_at`), even when its message's task has returned meanwhile.
START_WITHIN = 0.5

# A row that waited for a thread longer than this share of its lease since its claim has
# the lease renewed before its call (ledger.renew): every call starts with nearly its
# whole lease, as if the row had been claimed just then.
RENEW_AFTER = 0.05

# A pool process that ends settles its calls in flight first, waiting up to this long
# (worker/tasks.py, on the pool process's shutdown signal; within compose's 60 s grace):
# a call's longest is a quota wait (30 s) and the client's timeouts.
IN_FLIGHT_WAIT = 45.0

# A message of push-backs claims the others already due beside its own, up to this many
# times `job_batch` rows in all (`_pushes_alongside`). `python -m bench.pushbacks --handoffs
# 1000` (2 x AMD EPYC): push-backs/s once the last order was accepted 613.2 against
# 455.9-541.6 before (single runs of each, 15:00-15:50 UTC); at 4 with the queues taken in
# turn (worker/launch/queues.py), benchmark 1 lost 4 % of its orders at the quota.
PUSHES_BESIDE = 2

# The exit status of a pool process ended for a stuck call (EX_SOFTWARE).
EXIT_STUCK = 70


def run_jobs(rt: Runtime, job_ids: list[int]) -> None:
    """The rows of one bell message (a row rung twice in it runs once).

    A row whose last try never settled (its lease ran out: the process running it died) may
    be what killed that process. It runs last, alone, once the others are settled, so a
    poison row found so at the start takes down no other row's try again; the bound on
    its tries (`ledger.claim`) then ends it as it would with one row per task."""
    ids = list(dict.fromkeys(job_ids))
    if len(ids) == 1:  # (the bell sends one row as RUN_JOB: worker/tasks.py, the same)
        run_job(rt, ids[0])
        return
    ids += _pushes_alongside(rt, ids)
    deadline = time.monotonic() + rt.settings.task_time_limit * START_WITHIN
    suspects = _unsettled(rt, ids)
    rest = [i for i in ids if i not in suspects]
    if len(rest) == 1:
        _run_caught(rt, rest[0], deadline)
    elif rest:
        _run_together(rt, rest, deadline)
    if suspects and not settled(max(0.0, deadline - time.monotonic())):
        log.warning("jobs %s left for the sweep: the others' answers are not all settled",
                    sorted(suspects))
        return
    for job_id in sorted(suspects):
        _run_caught(rt, job_id, deadline)


def _pushes_alongside(rt: Runtime, ids: list[int]) -> list[int]:
    """A message of push-backs also claims the push-backs already due that no claim holds
    and no earlier push-back of their hand-off holds back (ledger.due_unclaimed, oldest due
    first), up to PUSHES_BESIDE times `job_batch` rows in all; the messages that rang those
    find them taken (a claim is conditional) and claim none of them again. None with
    `job_batch` 1 (a row a task, as that setting says), nor for a message of one row (a
    post retried, a hand-off's next push-back rung as the one before was answered: run
    alone as before, without the look-ups). Should the look-up fail, the message's own
    rows run without it.

    Why: the settles ring push-backs in small messages (a tenth of a second's worth,
    inflight.RING_GATHER), and after a burst of orders thousands wait in the broker in
    messages of a few rows, each a task's round (its claim, its wait for its rows to
    start). Taken beside the first of them, they run as full messages. A message of posts
    takes no push-backs: the carrier's quota is not theirs to wait on."""
    batch = rt.settings.job_batch
    room = PUSHES_BESIDE * batch - len(ids)
    if batch <= 1 or room <= 0:
        return []
    try:
        with uow.read(rt) as session:
            kinds = set(session.scalars(select(Job.kind).where(among(session, Job.id, ids))))
            if kinds != {JobKind.PUSH_STATUS}:
                return []
            return ledger.due_unclaimed(session, JobKind.PUSH_STATUS, ids, room)
    except Exception as err:  # an extra: the message's own rows run without it
        if isinstance(err, tuple(failures.ABORTS)):  # the task's time is up
            raise
        log.warning("no push-backs taken beside jobs %s: %s", ids,
                    scrub(f"{type(err).__name__}: {err}"))
        return []


def settle_and_go_on(rt: Runtime, answers: list[Answer]) -> None:
    """The settler's step (inflight.py): settle the answers in hand, and hand the
    push-backs whose turn those settles brought (a hand-off's next status), claimed in
    the same transaction (shared.py `_next_pushes`), straight to this process's threads
    with a message's bounds: started within START_WITHIN of a lease of their claim or
    given back untried, their lease renewed if they waited for a thread (`_start`). None
    while the pool stops (they are rung, for the other processes), nor with `job_batch` 1
    (a row a task, as that setting says)."""
    claimed_at = time.monotonic()  # (before the claims, as for a message's rows)
    flight = inflight.current()
    running = flight is not None and not flight.stopping
    taken = settle_answers(rt, answers, take_next=running and rt.settings.job_batch > 1)
    if not taken:
        return
    assert flight is not None  # (taken only while it runs)
    start_by = claimed_at + rt.settings.lease_seconds * START_WITHIN
    started = inflight.Countdown()  # (nobody waits for these to start: no task holds them)
    handed = 0
    try:
        for t in taken:
            started.add()
            # counted before the submit, as a message's rows are (`_run_together`)
            handed += 1
            flight.submit(rt, t, _start, rt, t, claimed_at, start_by, started,
                          give_back_at=start_by)
    finally:  # those not handed over: given back untried, for the sweep
        if handed < len(taken):
            settle_answers(rt, [Answer(t, None, None, 0, sent=False) for t in taken[handed:]])


def _unsettled(rt: Runtime, ids: list[int]) -> set[int]:
    """The rows among `ids` whose last try was claimed and never settled."""
    with uow.read(rt) as session:
        return set(session.scalars(select(Job.id).where(
            among(session, Job.id, ids), Job.state == JobState.PENDING,
            Job.locked_until.is_not(None), Job.locked_until < utcnow())))


def _run_together(rt: Runtime, ids: list[int], deadline: float) -> None:
    """Claim the rows and hand them to the process's threads (inflight.py); return once at
    most `job_threads` of them wait for a thread (`wait_started`; each answer is settled
    by the settler; a row that starts past `start_by` is given back untried). A process
    whose earlier answers are not being settled claims nothing more (at most about one
    message's rows are left unsettled when it claims)."""
    flight = inflight.for_process(rt.settings.job_threads, settle_and_go_on)
    _end_if_stuck(rt, flight)
    if not flight.wait_below(rt.settings.job_batch, deadline - time.monotonic()):
        log.warning("jobs %s left for the sweep: %d earlier answers of this process are "
                    "not settled yet", ids, flight.open)
        return
    claimed_at = time.monotonic()  # (before the claims: their waits are never undercounted)
    if claimed_at >= deadline:
        log.info("jobs %s left for the sweep: the batch's time is up", ids)
        return
    start_by = min(deadline, claimed_at + rt.settings.lease_seconds * START_WITHIN)
    taken: list[Taken] = []
    calls: list[Future[Answer]] = []
    handed = 0
    started = inflight.Countdown()
    try:
        take_all(rt, sorted(ids), taken)
        for t in taken:
            started.add()
            # counted before the submit: a time limit landing in between leaves this row
            # to its lease (late), never gives back a row whose call may still run (twice)
            handed += 1
            call = flight.submit(rt, t, _start, rt, t, claimed_at, start_by, started,
                                 give_back_at=start_by)
            call.add_done_callback(started.done_if_cancelled)  # a call that never starts
            calls.append(call)
        wait_started(started, start_by, rt.settings.job_threads)
    except BaseException:
        # the task stopped (its time limit): the rows still queued are given back untried
        # (a cancelled call is settled as such)
        for call in calls:
            call.cancel()
        raise
    finally:
        # those claimed and never handed over (a failure in between): given back here
        if handed < len(taken):
            settle_answers(rt, [Answer(t, None, None, 0, sent=False) for t in taken[handed:]])


def _end_if_stuck(rt: Runtime, flight: inflight.Inflight) -> None:
    """A call running longer than a lease is stuck (a reply that trickles, a link gone
    silent), and its row has been claimed again by now: the process ends (its pool starts
    a new one), as the task's hard time limit ended it when the calls ran in the task."""
    stuck = flight.oldest_call()
    if stuck > rt.settings.lease_seconds:
        log.error("a call has run for %.0f s, longer than a lease: this pool process ends "
                  "(its rows are left to their leases and the sweep)", stuck)
        for handler in logging.getLogger().handlers:  # the line above, out before the end
            handler.flush()
        os._exit(EXIT_STUCK)


def wait_started(started: inflight.Countdown, start_by: float, most: int) -> None:
    """Until at most `most` of the rows handed over wait for a thread, or `start_by`.

    The process then takes its next message while these wait: its rows queue behind
    them, so the threads never run dry between two messages. Waiting for every row to
    start left a gap: a message of push-backs (the one-stop answers at once) ran alone
    after the posts in flight ended, and with both processes doing so the post office saw
    no post for 150-340 ms about once a second (benchmark 1). A row that starts late is
    still given back untried past `start_by`, and has its lease renewed past a share of it
    (`_start`)."""
    started.wait(most, start_by - time.monotonic())


def stop_in_flight(timeout: float = IN_FLIGHT_WAIT) -> bool:
    """The process ends: the rows waiting for a thread given back, the calls running
    settled (up to `timeout`)."""
    return inflight.stop(timeout)


def settled(timeout: float = IN_FLIGHT_WAIT) -> bool:
    """Wait until this process's calls in flight are settled: for its shutdown, and for
    callers that read the outcome next (tests, benchmarks)."""
    return inflight.settled(timeout)


def _start(rt: Runtime, taken: Taken, claimed_at: float, start_by: float,
           started: inflight.Countdown) -> Answer:
    """A claimed row's call, on a thread of the pool, once a thread is free for it."""
    started.done()
    now = time.monotonic()
    if now >= start_by:
        log.info("job %s given back untried: too late to start", taken.job.id)
        return Answer(taken, None, None, 0, sent=False)
    if now - claimed_at > rt.settings.lease_seconds * RENEW_AFTER and not _renewed(rt, taken):
        return Answer(taken, None, None, 0, sent=False)
    return perform(rt, taken)


def _renewed(rt: Runtime, taken: Taken) -> bool:
    try:
        with uow.begin(rt) as session:
            return ledger.renew(session, taken.job, rt.settings.lease_seconds)
    except Exception as err:  # the database away: sending nothing is the safe side
        log.warning("job %s not sent: its lease could not be renewed (%s)", taken.job.id,
                    scrub(f"{type(err).__name__}: {err}"))
        return False


def _run_caught(rt: Runtime, job_id: int, deadline: float) -> None:
    """One row on its own (a suspect): its failure (the database away, say) is logged and
    left to the row's lease and the sweep. Past `deadline` it is not started (the sweep
    rings it again)."""
    if time.monotonic() >= deadline:
        log.info("job %s left for the sweep: the batch's time is up", job_id)
        return
    try:
        run_job(rt, job_id)
    except Exception as err:
        not_run(err, job_id)
