"""Applying the carrier's tracking events: every event logged, forward moves pushed back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import Job, StatusLogEntry
from worker.domain.enums import EventSource
from worker.domain.model import TrackingEvent
from worker.domain.reason_codes import ReasonCode, reason
from worker.service import handoffs


def apply_event(session: Session, ev: TrackingEvent,
                source: EventSource = EventSource.CARRIER_FEED) -> Job | None:
    """Apply one carrier event. Duplicates, late events and unknown codes are logged only."""
    key = f"carrier:{ev.dedup_key}"
    change = handoffs.Change(
        ev.status, source, ev.occurred_at, raw_code=str(ev.raw_code), raw_text=ev.raw_text,
        post_office=ev.post_office, notes=ev.notes, dedup_key=key, known_code=ev.known_code,
        unique=True,
    )
    handoff = handoffs.by_order_number(session, ev.order_number)
    seen = session.scalar(select(StatusLogEntry.id).where(StatusLogEntry.dedup_key == key))
    if seen is not None:
        dup = handoffs.Change(**{**change.__dict__, "unique": False})
        handoffs.log(session, handoff, dup, False,
                     reason(ReasonCode.DUPLICATE_EVENT, event_id=ev.event_id),
                     order_number=ev.order_number)
        return None
    if handoff is None:
        handoffs.log(session, None, change, False, reason(ReasonCode.ORDER_NOT_KNOWN),
                     order_number=ev.order_number)
        return None
    if ev.item_code and not handoff.item_code:
        handoff.item_code = ev.item_code
    _, job = handoffs.apply(session, handoff, change)
    return job
