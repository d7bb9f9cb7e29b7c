"""The transactions the rows of one bell message share (together.py runs the message): the
rows claimed and prepared in one transaction, the answers in hand settled in one, and,
when a shared transaction fails, the same work again one transaction a row (runner.py's
steps, the code a single row runs), so that one row's trouble never costs the others
theirs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from sqlalchemy import select

from worker.db import failures
from worker.db.models import Handoff, Job, utcnow
from worker.db.sets import among
from worker.domain.enums import JobKind, JobState
from worker.domain.privacy import scrub
from worker.service import agencies, ledger
from worker.service.agencies import areas
from worker.service.flow import handoffs
from worker.service.jobs.base import Step
from worker.service.jobs.runner import Answer, Taken, claim_many, prepared, settle, take
from worker.service.ledger import uow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from worker.service.runtime import Runtime

log = logging.getLogger(__name__)


def take_all(rt: Runtime, ids: list[int], taken: list[Taken]) -> None:
    """Claim and prepare the rows in one transaction (their hand-offs locked in id order,
    the rows read under the locks and claimed in one statement), or one transaction each
    when that one fails; each
    claimed row is added to `taken` as soon as its claim is committed."""
    try:
        with uow.begin(rt) as session:
            steps, rows = _steps(session, rt, ids)
            _read_areas_ahead(session, [s.handoff for r in rows if r.kind == JobKind.POST_ORDER
                                        and (s := steps.get(r.id)) is not None])
            claims = claim_many(session, rt.settings, [r for r in rows if r.id in steps])
            got = [t for i in ids if i in claims and (t := prepared(steps[i], claims[i]))
                   is not None]
        taken += got
        return
    except Exception as err:
        shared_failed(err, f"{len(ids)} jobs claimed")
    for i in ids:
        t = _take_one(rt, i)
        if t is not None:
            taken.append(t)


def _read_areas_ahead(session: Session, posted: list[Handoff]) -> None:
    """The area codes of the posts' citizens and agencies, in one query (not one a post)."""
    places = [(h.province_code, h.ward_code) for h in posted]
    for code in {h.agency_code for h in posted}:
        record = agencies.get(session, code)
        if record is not None:
            places.append((record.sender.address.province_code,
                           record.sender.address.ward_code))
    areas.read_ahead(session, places)


def _steps(session: Session, rt: Runtime, ids: list[int]
           ) -> tuple[dict[int, Step], list[Job]]:
    """Each row's step, its hand-off locked (all in id order), and the rows read again
    under those locks, for the claims: what another process settled meanwhile is seen."""
    owners = {jid: hid for jid, hid in session.execute(
        select(Job.id, Job.handoff_id).where(among(session, Job.id, ids)))}
    locked = handoffs.locked_many(session, owners.values())
    rows = list(session.scalars(select(Job).where(among(session, Job.id, owners))
                                .execution_options(populate_existing=True)))
    _read_ordered_ahead(session, rows)
    return {jid: Step(session, locked[hid], rt.settings)
            for jid, hid in owners.items() if hid in locked}, rows


def _read_ordered_ahead(session: Session, jobs: Sequence[Job | ledger.Claimed]) -> None:
    """Push-backs go out in order, a hand-off's next one rung as the last is settled: the
    pending rows of their hand-offs, locked by now, read in one statement for the ordering
    rule and the next ring of them all (ledger.read_pending_ahead), instead of a statement
    of each for each row."""
    pushes = [j.handoff_id for j in jobs if j.kind == JobKind.PUSH_STATUS]
    if len(pushes) > 1:
        ledger.read_pending_ahead(session, pushes)


def _take_one(rt: Runtime, job_id: int) -> Taken | None:
    try:
        with uow.begin(rt) as session:
            handoff_id = ledger.handoff_of(session, job_id)
            if handoff_id is None:
                return None
            return take(Step(session, handoffs.locked(session, handoff_id), rt.settings),
                        job_id)
    except Exception as err:
        not_run(err, job_id)
        return None


def settle_answers(rt: Runtime, answers: list[Answer], *, take_next: bool = False
                   ) -> list[Taken]:
    """Settle the answers in hand in one transaction, or one transaction each when that
    one fails: the others are kept, and an answer that cannot be settled is left to its
    row's lease and the sweep (its try then counts as lost, ledger.claim).

    With `take_next` (and a push-back among the answers), the push-backs whose turn these
    settles brought (a hand-off's next status once the one before it was answered) are
    claimed and prepared in the same transaction, under the same locks (`_next_pushes`),
    and returned for the caller's threads (together.py) instead of rung through the
    broker. Should that transaction fail, the answers are settled one transaction each as
    before, their push-backs rung: nothing this adds can keep an answer unsettled."""
    taken: list[Taken] = []
    take_next = take_next and any(a.taken.job.kind == JobKind.PUSH_STATUS for a in answers)
    if len(answers) > 1 or take_next:
        try:
            with uow.begin(rt) as session:
                with _new_rows_together(session, answers):
                    jobs = [a.taken.job for a in answers]
                    locked = handoffs.locked_many(session, (j.handoff_id for j in jobs))
                    ledger.lock_jobs(session, [j.id for j in jobs])
                    _read_ordered_ahead(session, jobs)
                    for a in answers:
                        settle(Step(session, locked[a.taken.job.handoff_id], rt.settings), a)
                if take_next:
                    taken = _next_pushes(session, rt, locked)
            return taken
        except Exception as err:
            shared_failed(err, f"{len(answers)} answers settled")
    for a in answers:  # (their push-backs rung: whatever failed above fails not these)
        try:
            with uow.begin(rt) as session:
                settle(Step(session, handoffs.locked(session, a.taken.job.handoff_id),
                            rt.settings), a)
        except Exception as err:
            not_run(err, a.taken.job.id)
    return []


def _next_pushes(session: Session, rt: Runtime, locked: dict[int, Handoff]) -> list[Taken]:
    """The push-backs whose turn this transaction brought (ledger.ring_next: a hand-off's
    next, the one before it answered), claimed and prepared here: their hand-offs are
    locked and their rows read under those locks, as a message's claim would have them
    (`claim_many`, each row under its own condition and its kind's ordering rule). Those
    claimed are not rung; the others (claimed elsewhere meanwhile) are rung as before.

    Why: rung, each of a hand-off's statuses cost a message and a claim's transaction of
    its own, and waited in the broker behind every message before it, the carrier's first
    (worker/launch/queues.py); taken here, a hand-off's statuses follow one another as
    fast as the one-stop answers.

    Not the first push-back of a hand-off, which a post's answer queues ("accepted"):
    taken at once too, the one-stop heard it within 0.4 s of the order instead of after
    the whole backlog of orders (`python -m bench.pushbacks --handoffs 2000`: 0.35 and
    0.38 s at the median against 35 and 43 s), but where the cores and not the quota
    paced the orders, they went at 108 a second instead of 166 (benchmark 1, a slow
    hour): with each order's answer came a push-back, sharing the threads, the settler
    and the cores. Taken only after a post that waited 50 ms or more for its account's
    quota, the one-stop heard it 1.2-1.3 s after the order at the median, but the 2,000
    orders, paced by the default quotas, took 45.7-50.5 s instead of 34.4-40.9 (three
    pairs run in turn): a post waiting for its slot does not mean the cores have room.
    A courier order matters more than the one-stop's page: both were taken out again
    (docs/deployment.md, the known limit)."""
    now = utcnow()
    turn = {id(j) for j in ledger.rung_next(session)}
    rows = list(dict.fromkeys(  # (a row made due twice, by two answers, is one row)
        j for j in uow.collected(session)
        if id(j) in turn and j.kind == JobKind.PUSH_STATUS and j.handoff_id in locked
        and j.state == JobState.PENDING and j.locked_until is None
        and j.next_attempt_at <= now))
    if not rows:
        return []
    claims = claim_many(session, rt.settings, rows)
    # neither the rows claimed here nor those its ordering rule put off (due a second
    # later, for the sweep, as a message's claim leaves them) are rung
    uow.uncollect(session, [j for j in rows if j.id in claims or j.next_attempt_at > now])
    return [t for j in rows if j.id in claims
            and (t := prepared(Step(session, locked[j.handoff_id], rt.settings),
                               claims[j.id])) is not None]


def _new_rows_together(session: Session, answers: list[Answer]) -> AbstractContextManager[None]:
    """The new rows the answers queue written together at the flush (ledger.written_together:
    a known key then fails the whole transaction, which is taken again one answer each),
    unless a cancel's answer is among them: a refused withdrawal's push-back is often known
    already (told by the carrier too, flow/cancel.py `_told`)."""
    if any(a.taken.job.kind == JobKind.CANCEL_ORDER for a in answers):
        return nullcontext()
    return ledger.written_together(session)


def shared_failed(err: Exception, what: str) -> None:
    """A shared transaction failed: raised again when the task's time is up; else logged,
    and its rows are taken one transaction each."""
    if isinstance(err, tuple(failures.ABORTS)):
        raise err
    log.warning("%s one by one: %s", what, scrub(f"{type(err).__name__}: {err}"))


def not_run(err: Exception, job_id: int) -> None:
    if isinstance(err, tuple(failures.ABORTS)):  # the task's time is up: stop here
        raise err
    log.warning("job %s not run: %s", job_id, scrub(f"{type(err).__name__}: {err}"))
