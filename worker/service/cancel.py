"""Cancelling a hand-off: before the carrier has it (locally), or through the carrier."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import Handoff, Job, utcnow
from worker.domain.model import HandoffItem
from worker.domain.statuses import Status
from worker.domain.transitions import can_cancel
from worker.service import handoffs, ledger

if TYPE_CHECKING:
    from worker.service.ingest import Ingested


def request_cancel(session: Session, handoff: Handoff, source: str, why: str
                   ) -> tuple[bool, str, list[Job]]:
    """Cancel if the courier has not taken the item yet. Returns (accepted, reason, jobs)."""
    decision = can_cancel(Status(handoff.status))
    if not decision.applied:
        reason = ("bưu tá đã nhận hồ sơ, không thể hủy" if "courier" in decision.reason
                  else f"yêu cầu đã kết thúc ({handoff.status}), không thể hủy")
        handoffs.log(session, handoff, handoffs.Change(None, source, utcnow(), notes=why),
                     False, f"cancel refused: {decision.reason}")
        return False, reason, []
    post = session.scalar(select(Job).where(
        Job.handoff_id == handoff.id, Job.kind == ledger.Kind.POST_ORDER))
    if post is not None and post.state == "pending":
        # stop the post first, so a retry cannot create the order after we cancel it
        post.state, post.last_error = "done", f"stopped: cancelled ({source})"
    if post is None or post.attempts == 0:  # the carrier never heard of it
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

    handoff = handoffs.current(session, item.dossier_code, item.direction)
    if handoff is None:
        # the withdrawal may name either direction; try the other one too
        for direction in ("pickup", "result_delivery"):
            handoff = handoff or handoffs.current(session, item.dossier_code, direction)
    if handoff is None:
        return Ingested("ignored", reason="no hand-off for this dossier")
    ok, reason, jobs = request_cancel(session, handoff, source, "rút yêu cầu từ hệ thống một cửa")
    return Ingested("cancelled" if ok else "ignored", handoff.id, reason, jobs)
