"""Job kind cancel_order: ask the carrier to cancel a hand-off's order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from worker.db.models import Job
from worker.domain.enums import JobKind
from worker.domain.errors import CancelRefused, HandoffError
from worker.domain.job_payloads import CancelPayload
from worker.domain.model import CarrierAccount
from worker.domain.reason_codes import ReasonCode, reason
from worker.ports import Ports
from worker.service import agencies, ledger
from worker.service.agencies.vault import VaultError
from worker.service.flow import cancel
from worker.service.jobs.base import Skip, Step, System, dead, reason_of

KIND = JobKind.CANCEL_ORDER
PAYLOAD = CancelPayload
SYSTEM = System.CARRIER
REPLAY_WHEN_FINAL = False  # a finished hand-off has nothing left to cancel


def must_wait(session: Session, job: Job, now: datetime) -> bool:
    """A cancel waits while a post of the same hand-off may still be on the wire."""
    return ledger.has_job(session, job.handoff_id, JobKind.POST_ORDER,
                          Job.locked_until.is_not(None), Job.locked_until > now)


@dataclass(frozen=True)
class Cancel:
    order_number: str
    account: CarrierAccount  # the account the order was posted by (its agency's)


def prepare(step: Step, job: ledger.Claimed) -> Cancel | Skip:
    # a disabled agency's orders are still cancelled through its account
    try:
        account = agencies.account_of(step.session, step.settings, step.handoff.agency_code)
    except VaultError:  # dead for ops to replay once HANDOFF_CREDENTIALS_KEY is fixed
        return Skip(reason(ReasonCode.CREDENTIALS_UNREADABLE,
                           agency=step.handoff.agency_code).en(), dead=True)
    return Cancel(step.handoff.order_number or "",
                  account or agencies.default_account(step.settings))


def perform(ports: Ports, request: Cancel) -> str:
    return ports.carrier_for(request.account).cancel_order(request.order_number)


def settle(step: Step, job: ledger.Claimed, message: str) -> None:
    cancel.carrier_cancelled(step.session, job, step.handoff, str(message))


def settle_failure(step: Step, job: ledger.Claimed, failure: HandoffError,
                   duration_ms: int | None) -> None:
    if isinstance(failure, CancelRefused):
        # the carrier answered the cancel with a Status other than 100: it refused
        cancel.carrier_refused(step.session, job, step.handoff, reason_of(job, failure),
                               failure.code or "", duration_ms)
        return
    # Any other permanent failure of a cancel (HTTP 403/404, a rejected customer key) is no
    # answer: dead for ops to replay once the cause is fixed, the hand-off left where it is,
    # as for a cancel whose retries ran out; nobody is told it was refused.
    dead(step, job, failure, duration_ms)
