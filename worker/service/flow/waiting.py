"""Hand-offs that wait for their agency: it is not in the deployment, or it is disabled.

Such a hand-off is kept (never dropped) as needs_attention with a coded reason naming the
agency; the one-stop is told. `take_up_waiting` picks it up again when the agency is added
or enabled (`agency_admin`), and the sweep's `take_up_enabled` catches any left behind.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.models import Agency, Handoff, StatusLogEntry, utcnow
from worker.domain.enums import EventSource
from worker.domain.reason_codes import Reason, ReasonCode, reason
from worker.domain.statuses import FINAL, Status
from worker.service.agencies import AgencyRecord, get
from worker.service.flow import handoffs

log = logging.getLogger(__name__)

WAITING = (ReasonCode.AGENCY_UNKNOWN, ReasonCode.AGENCY_DISABLED)


def why_waiting(code: str, record: AgencyRecord | None) -> Reason | None:
    """Why a hand-off of agency `code` cannot go on now; None when it can."""
    if record is None:
        return reason(ReasonCode.AGENCY_UNKNOWN, agency=code)
    if not record.enabled:
        return reason(ReasonCode.AGENCY_DISABLED, agency=code)
    return None


def hold(session: Session, h: Handoff, why: Reason,
         source: EventSource = EventSource.WORKER) -> str:
    """Set the hand-off to needs_attention for its agency (the one-stop is told); returns
    the reason in English for the ledger."""
    if Status(h.status) in FINAL:
        return why.en()
    now = utcnow()
    change = handoffs.Change(Status.NEEDS_ATTENTION, source, now, notes=why.vi())
    handoffs.log(session, h, change, True, why)
    handoffs.set_status(h, Status.NEEDS_ATTENTION, now, why.vi())
    handoffs.queue_push(session, h, change)
    return why.en()


def take_up_waiting(session: Session, code: str) -> int:
    """The agency's hand-offs that wait for it (needs_attention because it was unknown or
    disabled) go on: back to requested, and posted at once when it dispatches
    automatically (otherwise they appear at its desk). Returns how many.

    Each is re-read under its row lock: a hand-off cancelled or changed meanwhile by
    another transaction is left as it now is."""
    record = get(session, code)
    if record is None or not record.enabled:
        return 0
    count = 0
    for hid in waiting_ids(session, code):
        h = session.get(Handoff, hid, with_for_update=True, populate_existing=True)
        if h is None or h.status != Status.NEEDS_ATTENTION or hid not in waiting_ids(
                session, code, only=hid):
            continue
        now = utcnow()
        change = handoffs.Change(Status.REQUESTED, EventSource.WORKER, now)
        handoffs.log(session, h, change, True, reason(ReasonCode.AGENCY_READY, agency=code))
        handoffs.set_status(h, Status.REQUESTED, now)
        if record.auto and h.order_number:
            handoffs.request_post(session, h)
        count += 1
    if count:
        log.info("agency %s: %d waiting hand-off(s) taken up", code, count)
    return count


def waiting_ids(session: Session, code: str, *, only: int | None = None) -> list[int]:
    """Hand-offs of agency `code` in needs_attention whose last applied log entry says they
    wait for their agency (one query)."""
    held = select(Handoff.id).where(Handoff.agency_code == code,
                                    Handoff.status == Status.NEEDS_ATTENTION.value)
    if only is not None:
        held = held.where(Handoff.id == only)
    last = (select(StatusLogEntry.handoff_id, func.max(StatusLogEntry.id).label("last_id"))
            .where(StatusLogEntry.applied.is_(True), StatusLogEntry.handoff_id.in_(held))
            .group_by(StatusLogEntry.handoff_id).subquery())
    return list(session.scalars(
        select(last.c.handoff_id).join(StatusLogEntry, StatusLogEntry.id == last.c.last_id)
        .where(StatusLogEntry.reason_code.in_([w.value for w in WAITING]))
        .order_by(last.c.handoff_id)))


def take_up_enabled(session: Session) -> int:
    """The sweep's safety net: hand-offs still waiting for an agency that exists and is
    enabled (an item held at the very moment its agency was enabled, on PostgreSQL) are
    taken up. Returns how many."""
    codes = session.scalars(select(Handoff.agency_code).distinct()
                            .join(Agency, Agency.code == Handoff.agency_code)
                            .where(Handoff.status == Status.NEEDS_ATTENTION.value,
                                   Agency.enabled.is_(True))).all()
    return sum(take_up_waiting(session, code) for code in codes)
