"""What every job handler is: prepare / perform / settle, and the shared dead-letter step.

A handler is a module (one per job kind, registered in `jobs/__init__.py`):

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
from typing import Any, Protocol

from sqlalchemy.orm import Session

from worker.db.models import Handoff
from worker.domain.enums import AttemptOutcome
from worker.domain.errors import HandoffError, PermanentError
from worker.domain.privacy import scrub
from worker.ports import Ports
from worker.service import ledger
from worker.settings import Settings

log = logging.getLogger(__name__)


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


class JobHandler(Protocol):
    """The shape of a handler module (see the module docstring)."""

    # May ops replay a dead job of this kind once its hand-off is final (cancelled,
    # delivered, ...)? Not when it would send the carrier a request for a finished hand-off.
    REPLAY_WHEN_FINAL: bool

    def prepare(self, step: Step, job: ledger.Claimed) -> Any: ...

    def perform(self, ports: Ports, request: Any) -> Any: ...

    def settle(self, step: Step, job: ledger.Claimed, outcome: Any) -> None: ...

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
