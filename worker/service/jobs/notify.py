"""Job kind notify: tell the SLA receiver, once per hand-off and rule, that a rule broke."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from worker.db.models import SlaBreach, utcnow
from worker.domain.enums import JobKind
from worker.domain.errors import HandoffError
from worker.domain.job_payloads import NotifyPayload
from worker.ports import Ports
from worker.service import ledger
from worker.service.flow.sla import notification_body
from worker.service.jobs.base import Skip, Step, System, dead, never_waits

KIND = JobKind.NOTIFY
PAYLOAD = NotifyPayload  # built by sla.queue_notifications
SYSTEM = System.NOTIFIER
REPLAY_WHEN_FINAL = True  # a breach of a finished hand-off (push_failed) is still news
must_wait = never_waits  # once per hand-off and rule: no order among them to keep


@dataclass(frozen=True)
class Notification:
    message_id: str  # stable (sla_{handoff}_{rule}): the receiver dedupes on it
    body: dict[str, Any]


def prepare(step: Step, job: ledger.Claimed) -> Notification | Skip:
    """The breach as it stands now. A breach healed since it was queued is still sent: it
    happened, and its notification stays once per hand-off and rule."""
    p = NotifyPayload.from_json(job.payload)
    breach = step.session.scalar(select(SlaBreach).where(
        SlaBreach.handoff_id == step.handoff.id, SlaBreach.rule == p.rule))
    if breach is None:
        return Skip("skipped: no such breach")
    return Notification(p.message_id, notification_body(step.handoff, breach))


def perform(ports: Ports, note: Notification) -> None:
    ports.notifier.notify(note.message_id, note.body)


def settle(step: Step, job: ledger.Claimed, outcome: None) -> None:
    step.session.execute(update(SlaBreach).where(
        SlaBreach.handoff_id == step.handoff.id,
        SlaBreach.rule == NotifyPayload.from_json(job.payload).rule,
        SlaBreach.notified_at.is_(None)).values(notified_at=utcnow()))


def settle_failure(step: Step, job: ledger.Claimed, failure: HandoffError,
                   duration_ms: int | None) -> None:
    dead(step, job, failure, duration_ms)
