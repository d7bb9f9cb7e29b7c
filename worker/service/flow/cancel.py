"""Cancelling a hand-off: locally before the carrier has it, else through the carrier; and
what a refused cancel leaves behind (the hand-off unchanged, the one-stop told)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import Attempt, Handoff, Job, utcnow
from worker.domain.enums import AttemptOutcome, EventSource, IngestOutcome, JobKind, JobState
from worker.domain.job_payloads import CancelPayload
from worker.domain.model import HandoffItem
from worker.domain.privacy import scrub
from worker.domain.reason_codes import Reason, ReasonCode
from worker.domain.statuses import LABEL_VI, Direction, PostalEvent, Status
from worker.domain.transitions import CancelBlock, can_cancel
from worker.service import ledger
from worker.service.flow import handoffs
from worker.service.flow.ingested import Ingested
from worker.service.ledger import uow

WITHDRAWAL_REFUSED = "yêu cầu rút hồ sơ khỏi bưu chính bị từ chối"
ASKED = Reason(ReasonCode.CANCEL_REQUESTED)
REFUSED_BY_CARRIER = Reason(ReasonCode.CANCEL_REFUSED_BY_CARRIER)
CARRIER_REFUSED = REFUSED_BY_CARRIER.en()  # its English words in the log, for scripts
PICKED_UP_VI = "bưu tá đã nhận hồ sơ, không thể hủy"
ASKED_VI = "đã gửi yêu cầu hủy tới bưu điện"
UNSURE_VI = ("bưu điện từ chối hủy nhưng chưa từng xác nhận đã nhận đơn; cần kiểm tra với "
             "bưu điện xem đơn có tồn tại không")


@dataclass(frozen=True)
class CancelResult:
    accepted: bool  # cancelled here, or asked of the carrier
    reason: str  # for the clerk, in Vietnamese
    jobs: list[Job] = field(default_factory=list)
    at_carrier: bool = False  # the carrier was asked (its answer comes later)


def request_cancel(session: Session, handoff: Handoff, source: EventSource, why: str,
                   withdrawal: str | None = None) -> CancelResult:
    """Cancel if the courier has not taken the item yet.

    ``withdrawal`` is the one-stop item id when the one-stop system asked: it is then told
    when the withdrawal is refused (here, or later by the carrier). The caller holds the
    hand-off's row lock (handoffs.locked)."""
    decision = can_cancel(Status(handoff.status))
    if not decision.applied:
        reason = PICKED_UP_VI if decision.blocked is CancelBlock.PICKED_UP else (
            f"yêu cầu đã kết thúc ({LABEL_VI[Status(handoff.status)]}), không thể hủy")
        handoffs.log(session, handoff, handoffs.Change(None, source, utcnow(), notes=why),
                     False, Reason(ReasonCode.CANCEL_REFUSED,
                                   {"why": decision.reason.code, **decision.reason.params}))
        # a withdrawal of what is already cancelled got what it asked for: nothing to refuse
        if withdrawal is not None and handoff.status != Status.CANCELLED:
            return CancelResult(False, reason, _told(session, handoff, reason, withdrawal))
        return CancelResult(False, reason)
    earlier = list(session.scalars(
        select(Job).where(Job.handoff_id == handoff.id, Job.kind == JobKind.CANCEL_ORDER)
        .order_by(Job.id).with_for_update()))
    if earlier and earlier[-1].state != JobState.DONE:  # on its way, or the carrier was not reached
        return _join(session, handoff, earlier[-1], source, why, withdrawal)
    if withdrawal is not None and any(withdrawal in _withdrawals(j.payload) for j in earlier):
        # this very withdrawal again: its refusal stands
        return _refused_before(session, handoff, withdrawal, source, why)
    # stop the post first, so a retry cannot create the order after we cancel it
    _, reached_carrier = ledger.stop_pending_post(session, handoff.id, f"cancelled ({source})")
    if not reached_carrier or _post_refused(session, handoff):
        # the carrier never created the order (never asked, or it refused the post)
        _, push = handoffs.apply(session, handoff,
                                 handoffs.Change(Status.CANCELLED, source, utcnow(), notes=why))
        return CancelResult(True, "đã hủy (bưu điện chưa nhận đơn)", [push] if push else [])
    # Every earlier cancel was refused (an accepted one ends the hand-off): a refusal holds
    # for its moment only, so a new request asks the carrier again under a key of its own.
    job = ledger.enqueue(session, JobKind.CANCEL_ORDER, handoff.id,
                         cancel_key(handoff.order_number or "", len(earlier)),
                         CancelPayload(why, source, withdrawal).to_json())
    handoffs.log(session, handoff, handoffs.Change(None, source, utcnow(), notes=why), True,
                 ASKED)
    return CancelResult(True, ASKED_VI, [job] if job else [], at_carrier=True)


def cancel_key(order_number: str, refused_before: int) -> str:
    """The ledger key of a hand-off's cancel after `refused_before` refused ones: the first
    keeps the key cancels always had."""
    base = f"cancel:{order_number}"
    return base if refused_before == 0 else f"{base}:{refused_before}"


def _join(session: Session, handoff: Handoff, earlier: Job, source: EventSource, why: str,
          withdrawal: str | None) -> CancelResult:
    """A cancel while another waits (or went dead): one question to the carrier, not two."""
    if earlier.state == JobState.DEAD:  # the carrier could not be reached: ask again
        ledger.revive(session, earlier.idempotency_key)
    uow.collect(session, earlier)  # rung again after commit, in case its ring was lost
    if withdrawal is not None:  # the carrier's answer must reach this one-stop item too
        earlier.payload = CancelPayload.from_json(earlier.payload).joined(withdrawal).to_json()
    handoffs.log(session, handoff, handoffs.Change(None, source, utcnow(), notes=why),
                 True, ASKED)
    return CancelResult(True, ASKED_VI, [earlier], at_carrier=True)


def _refused_before(session: Session, handoff: Handoff, withdrawal: str, source: EventSource,
                    why: str) -> CancelResult:
    """The same withdrawal taken again after the carrier refused it: the same answer, told
    under the same key as the first time, so the one-stop records it once."""
    reason = "bưu điện đã từ chối hủy đơn này trước đó"
    handoffs.log(session, handoff, handoffs.Change(None, source, utcnow(), notes=why), False,
                 REFUSED_BY_CARRIER)
    return CancelResult(False, reason, _told(session, handoff, reason, withdrawal))


def _post_refused(session: Session, handoff: Handoff) -> bool:
    """True when the carrier has no order to cancel: it answered the post with a refusal
    and never accepted it, or the post was only ever held here (its agency disabled or
    unknown) and never sent. Only real answers count: a hold after a try that may have
    created the order (a timeout) leaves that try's doubt standing."""
    if handoff.accepted_at is not None:
        return False
    tries = session.execute(
        select(Attempt.number, Attempt.outcome).join(Job, Job.id == Attempt.job_id)
        .where(Job.handoff_id == handoff.id, Job.kind == JobKind.POST_ORDER,
               Job.state == JobState.DEAD)
        .order_by(Attempt.id)).all()  # by id: a revived job numbers its tries from 1 again
    answers = [outcome for _, outcome in tries if outcome != AttemptOutcome.HELD]
    if answers:
        return answers[-1] == AttemptOutcome.PERMANENT
    return bool(tries) and _none_lost([number for number, _ in tries])


def _none_lost(numbers: list[int]) -> bool:
    """True when every try of the post left its row: each number follows the one before
    (or starts again at 1, after a revival). A missing number is a try whose worker died
    on the wire: it may have created the order."""
    before = 0
    for number in numbers:
        if number not in (before + 1, 1):
            return False
        before = number
    return True


def carrier_refused(session: Session, claimed: ledger.Claimed, handoff: Handoff, reason: str,
                    code: str, duration_ms: int | None = None) -> list[Job | None]:
    """The carrier answered the cancel with anything but success: an answer, not a fault.

    The hand-off stays where it is (the feed keeps moving it), the log says why, and the
    one-stop system hears that its withdrawal was refused when it asked for it."""
    reason = scrub(reason)
    ledger.settle_done(session, claimed, note=f"refused: {reason}", duration_ms=duration_ms)
    handoffs.log(session, handoff, handoffs.Change(
        None, EventSource.WORKER, utcnow(), raw_code=code[:20], raw_text=reason,
        notes=claimed.payload.get("why", "")), False, REFUSED_BY_CARRIER)
    jobs: list[Job | None] = []
    if handoff.accepted_at is None and handoff.status in (Status.REQUESTED,
                                                          Status.NEEDS_ATTENTION):
        # the post was tried, never confirmed, and now stopped: whether the carrier has an
        # order is unknown, so a person must check; a feed event still moves it on
        jobs.append(handoffs.needs_attention(session, handoff, f"{UNSURE_VI} ({reason})"))
    # the row as it is now, not the copy claimed: a withdrawal may have joined while the
    # carrier was being asked (_join, under the same hand-off lock this settle holds)
    row = session.get(Job, claimed.id, populate_existing=True)
    for withdrawal in _withdrawals(row.payload if row is not None else claimed.payload):
        jobs += _told(session, handoff, reason, withdrawal)
    return jobs


def _withdrawals(payload: dict) -> list[str]:
    """The one-stop withdrawal items a cancel answers (CancelPayload.answers)."""
    return CancelPayload.from_json(payload).answers()


def carrier_cancelled(session: Session, claimed: ledger.Claimed, handoff: Handoff,
                      message: str) -> list[Job | None]:
    change = handoffs.Change(Status.CANCELLED, EventSource.WORKER, utcnow(),
                             raw_text=scrub(message), notes=claimed.payload.get("why", ""))
    return [handoffs.apply(session, handoff, change)[1]]


def _told(session: Session, handoff: Handoff, detail: str, withdrawal: str) -> list[Job]:
    """Tell the one-stop that its withdrawal was refused: one `withdrawal_refused` event per
    withdrawal item (contract section 3), never the current status again. Keyed by the item,
    so a retry, a redelivery or a refusal told both here and by the carrier is one event."""
    change = handoffs.Change(None, EventSource.WORKER, utcnow(),
                             notes=f"{WITHDRAWAL_REFUSED}: {detail}",
                             dedup_key=f"withdrawal:{withdrawal}")
    job = handoffs.queue_push(session, handoff, change, event=PostalEvent.WITHDRAWAL_REFUSED)
    return [job] if job else []


def cancel_from_onestop(session: Session, item: HandoffItem, source: EventSource
                        ) -> Ingested:
    found = handoffs.current(session, item.dossier_code, item.direction)
    if found is None:
        # the withdrawal may name either direction; try the other one too
        for direction in (Direction.PICKUP, Direction.RESULT_DELIVERY):
            found = found or handoffs.current(session, item.dossier_code, direction)
    if found is None:
        return Ingested(IngestOutcome.IGNORED, reason="no hand-off for this dossier")
    handoff = handoffs.locked(session, found.id)
    result = request_cancel(session, handoff, source, "rút yêu cầu từ hệ thống một cửa",
                            withdrawal=item.item_id)
    outcome = IngestOutcome.CANCELLED if result.accepted else IngestOutcome.IGNORED
    return Ingested(outcome, handoff.id, result.reason, list(result.jobs))
