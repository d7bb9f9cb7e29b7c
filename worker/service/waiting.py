"""Hand-offs that wait for their agency: it is not in the deployment, or it is disabled.

Such a hand-off is kept (never dropped) as needs_attention with a coded reason naming the
agency; the one-stop is told. `agency_admin.take_up_waiting` picks it up again when the
agency is added or enabled.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from worker.db.models import Handoff, utcnow
from worker.domain.enums import EventSource
from worker.domain.reason_codes import Reason, ReasonCode, reason
from worker.domain.statuses import FINAL, Status
from worker.service import handoffs
from worker.service.agencies import AgencyRecord


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
