"""The delivery-status log: one row per thing that happened to a hand-off (or to an entry
that names none), with its coded reason. Below handoffs and handover, which both write it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from worker.db.models import Handoff, StatusLogEntry
from worker.domain.enums import EventSource
from worker.domain.reason_codes import Reason
from worker.domain.statuses import Status


@dataclass(frozen=True)
class Change:
    """What happened to a hand-off, for the log."""

    status: Status | None
    source: EventSource
    occurred_at: datetime
    raw_code: str = ""
    raw_text: str = ""
    post_office: str = ""
    notes: str = ""
    dedup_key: str | None = None  # stable key of the event; the push-back eventId derives from it
    known_code: bool = True
    unique: bool = False  # carrier events: the log's unique index rejects a second copy


def log(session: Session, handoff: Handoff | None, change: Change, applied: bool, reason: Reason,
        *, order_number: str = "", dossier_code: str = "") -> StatusLogEntry:
    """One row of the delivery-status log. The reason is stored as its code and parameters;
    its English words go beside them for scripts and grep, never to be parsed back."""
    entry = StatusLogEntry(
        handoff_id=handoff.id if handoff else None,
        dossier_code=handoff.dossier_code if handoff else dossier_code,
        order_number=(handoff.order_number or "") if handoff else order_number,
        source=change.source, status=change.status.value if change.status else None,
        raw_code=change.raw_code, raw_text=change.raw_text[:400],
        post_office=change.post_office, notes=change.notes, applied=applied, reason=reason.en(),
        reason_code=reason.code.value, reason_params=dict(reason.params),
        dedup_key=change.dedup_key if change.unique else None, occurred_at=change.occurred_at,
    )
    session.add(entry)
    return entry
