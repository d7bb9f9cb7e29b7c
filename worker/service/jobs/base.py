"""What every job kind is: its declarations, prepare / perform / settle, the dead-letter step.

A kind is a module (one per JobKind member, registered in `jobs/__init__.py`) that declares

- ``KIND`` (its JobKind member), ``PAYLOAD`` (the dataclass its ledger rows carry, from
  worker/domain/job_payloads.py), ``SYSTEM`` (the side it calls, the metrics' label) and
  ``REPLAY_WHEN_FINAL``; its label sits beside the enum (JOB_KIND_VI: the domain's reason
  texts name kinds too);
- ``must_wait(session, job, now)``, its ordering rule: the ledger's claim asks it (through
  the registry) and leaves the job for a second later while it holds;

and handles its jobs, generic over its request and result (``JobHandler[Request, Result]``):

- ``prepare(step, job)`` inside the claiming transaction: read what the call needs and
  return it as plain values (or ``Skip`` to settle the job done without calling anyone);
- ``perform(ports, request)`` outside any transaction: the one call to the outside world;
  raises TransientError or PermanentError (the runner retries, or gives up);
- ``settle(step, job, outcome)`` after success, in a new transaction (the ledger row is
  already done): apply what the answer means (a status, a new job);
- ``settle_failure(step, job, failure, duration_ms)`` when the job failed for good
  (permanent, or attempts exhausted): settle the ledger row (usually ``dead``) and tell
  whoever must know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from worker.db.models import Handoff, Job
from worker.domain.enums import AttemptOutcome, JobKind
from worker.domain.errors import HandoffError, PermanentError
from worker.domain.job_payloads import JobPayload
from worker.domain.privacy import scrub
from worker.ports import Ports
from worker.service import ledger
from worker.settings import Settings

log = logging.getLogger(__name__)

Request = TypeVar("Request")
Result = TypeVar("Result")


class System(StrEnum):
    """Which side a kind calls (the metrics' `system` label)."""

    CARRIER = "carrier"
    ONESTOP = "onestop"
    NOTIFIER = "notifier"


@dataclass(frozen=True)
class Step:
    """One transaction of a job's run: its session, the job's hand-off (locked before the
    job: the lock order everywhere, so PostgreSQL never deadlocks) and the settings."""

    session: Session
    handoff: Handoff
    settings: Settings


@dataclass(frozen=True)
class Skip:
    """prepare's answer when there is nothing to send: the job is settled done with `note`
    (dead when `dead`: it waits for a person or a change, and can be revived)."""

    note: str
    dead: bool = False


class JobHandler(Protocol[Request, Result]):
    """The shape of a kind's module (see the module docstring); its constants are read-only
    properties here so that a module's plain constants match them."""

    @property
    def KIND(self) -> JobKind: ...

    @property
    def PAYLOAD(self) -> type[JobPayload]: ...

    @property
    def SYSTEM(self) -> System: ...

    # May ops replay a dead job of this kind once its hand-off is final (cancelled,
    # delivered, ...)? Not when it would send the carrier a request for a finished hand-off.
    @property
    def REPLAY_WHEN_FINAL(self) -> bool: ...

    def must_wait(self, session: Session, job: Job, now: datetime) -> bool: ...

    def prepare(self, step: Step, job: ledger.Claimed) -> Request | Skip: ...

    def perform(self, ports: Ports, request: Request) -> Result: ...

    def settle(self, step: Step, job: ledger.Claimed, outcome: Result) -> None: ...

    def settle_failure(self, step: Step, job: ledger.Claimed, failure: HandoffError,
                       duration_ms: int | None) -> None: ...


def reason_of(job: ledger.Claimed, failure: HandoffError) -> str:
    """What a job that failed for good records: the refusal, or how many tries it took."""
    if isinstance(failure, PermanentError):
        return scrub(failure.reason)
    return scrub(f"{ledger.EXHAUSTED_PREFIX} {job.attempts} lần thử: {failure}")


def dead(step: Step, job: ledger.Claimed, failure: HandoffError,
         duration_ms: int | None) -> str:
    """Settle the job dead (kept for ops to replay once the cause is fixed); its reason."""
    reason = reason_of(job, failure)
    outcome = (AttemptOutcome.PERMANENT if isinstance(failure, PermanentError)
               else AttemptOutcome.EXHAUSTED)
    ledger.settle_dead(step.session, job, reason, outcome, duration_ms)
    log.warning("job %s %s dead: %s", job.id, job.kind, reason)
    return reason


def never_waits(session: Session, job: Job, now: datetime) -> bool:
    """The ordering rule of a kind whose jobs never wait for another job."""
    return False
