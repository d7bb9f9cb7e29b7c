"""Job kind push_status: tell the one-stop system a hand-off's status (in order, once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from worker.db.models import Job
from worker.domain.enums import JobKind
from worker.domain.errors import HandoffError
from worker.domain.job_payloads import PushPayload
from worker.domain.model import StatusPush
from worker.ports import Ports
from worker.service import ledger
from worker.service.jobs.base import Step, System, dead

KIND = JobKind.PUSH_STATUS
PAYLOAD = PushPayload  # built by handoffs.queue_push
SYSTEM = System.ONESTOP
REPLAY_WHEN_FINAL = True  # "delivered" must still reach the one-stop after the end


def must_wait(session: Session, job: Job, now: datetime) -> bool:
    """Push-backs of one hand-off go out in order: a later one waits for the earlier ones."""
    return ledger.waits_for_earlier(session, job)


def prepare(step: Step, job: ledger.Claimed) -> StatusPush:
    return PushPayload.from_json(job.payload).sent_with(step.handoff.item_code)


def perform(ports: Ports, push: StatusPush) -> bool:
    return ports.onestop.push_status(push)


def settle(step: Step, job: ledger.Claimed, had_it_already: bool) -> None:
    """The one-stop has the status: the hand-off's next one goes now (not on a timer)."""
    ledger.ring_next(step.session, job)


def settle_failure(step: Step, job: ledger.Claimed, failure: HandoffError,
                   duration_ms: int | None) -> None:
    # a dead push flags the hand-off (SLA rule push_failed) until it is replayed; the
    # statuses after it still go (its ordering rule waits only for pending ones)
    dead(step, job, failure, duration_ms)
    ledger.ring_next(step.session, job)
