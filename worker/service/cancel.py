"""Cancelling a hand-off: before the carrier has it (locally), or through the carrier."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from worker.db.models import Handoff, Job, utcnow
from worker.domain.model import HandoffItem
from worker.domain.statuses import LABEL_VI, Status
from worker.domain.transitions import can_cancel
from worker.service import handoffs, ledger

if TYPE_CHECKING:
    from worker.service.ingest import Ingested


def request_cancel(session: Session, handoff: Handoff, source: str, why: str
                   ) -> tuple[bool, str, list[Job]]:
    """Cancel if the courier has not taken the item yet. Returns (accepted, reason, jobs).

    The caller holds the hand-off's row lock (handoffs.locked)."""
    decision = can_cancel(Status(handoff.status))
    if not decision.applied:
        reason = ("bưu tá đã nhận hồ sơ, không thể hủy" if "courier" in decision.reason
                  else f"yêu cầu đã kết thúc ({LABEL_VI[Status(handoff.status)]}), "
                       "không thể hủy")
        handoffs.log(session, handoff, handoffs.Change(None, source, utcnow(), notes=why),
                     False, f"cancel refused: {decision.reason}")
        return False, reason, []
    # stop the post first, so a retry cannot create the order after we cancel it
    _, reached_carrier = ledger.stop_pending_post(session, handoff.id, f"cancelled ({source})")
    if not reached_carrier:  # the carrier never heard of it: cancelled here and now
        _, push = handoffs.apply(session, handoff,
                                 handoffs.Change(Status.CANCELLED, source, utcnow(), notes=why))
        return True, "đã hủy (chưa gửi yêu cầu tới bưu điện)", [push] if push else []
    job = ledger.enqueue(session, ledger.Kind.CANCEL_ORDER, handoff.id,
                         f"cancel:{handoff.order_number}", {"why": why, "source": source})
    handoffs.log(session, handoff, handoffs.Change(None, source, utcnow(), notes=why), True,
                 "cancel requested at the carrier")
    return True, "đã gửi yêu cầu hủy tới bưu điện", [job] if job else []


def cancel_from_onestop(session: Session, item: HandoffItem, source: str) -> Ingested:
    from worker.service.ingest import Ingested

    found = handoffs.current(session, item.dossier_code, item.direction)
    if found is None:
        # the withdrawal may name either direction; try the other one too
        for direction in ("pickup", "result_delivery"):
            found = found or handoffs.current(session, item.dossier_code, direction)
    if found is None:
        return Ingested("ignored", reason="no hand-off for this dossier")
    handoff = handoffs.locked(session, found.id)
    ok, reason, jobs = request_cancel(session, handoff, source, "rút yêu cầu từ hệ thống một cửa")
    return Ingested("cancelled" if ok else "ignored", handoff.id, reason, jobs)
