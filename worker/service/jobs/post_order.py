"""Job kind post_order: ask the carrier for a courier (an order) for one hand-off."""

from __future__ import annotations

from worker.db.models import Handoff, utcnow
from worker.domain.enums import EventSource
from worker.domain.errors import HandoffError
from worker.domain.model import Address, CarrierOrder, Contact, PostOutcome
from worker.domain.statuses import FINAL, Direction, Status
from worker.ports import Ports
from worker.service import handoffs, ledger
from worker.service.jobs.base import Skip, Step, dead
from worker.settings import Settings

REPLAY_WHEN_FINAL = False  # never a courier for a hand-off that is over


def prepare(step: Step, job: ledger.Claimed) -> CarrierOrder | Skip:
    h = step.handoff
    if Status(h.status) in FINAL:
        # cancelled (or finished) while the post waited: never send a courier for it
        return Skip(f"skipped: hand-off {h.status}")
    return build_order(step.settings, h)


def build_order(settings: Settings, h: Handoff) -> CarrierOrder:
    agency = settings.agency(h.agency_code)
    desk = Contact(name=h.agency_name or agency.name, phone=agency.tel, email=agency.email,
                   address=Address(agency.address, agency.province_code, agency.ward_code))
    citizen = Contact(name=h.citizen_name, phone=h.citizen_phone, email=h.citizen_email,
                      address=Address(h.citizen_address, h.province_code, h.ward_code))
    pickup = h.direction == Direction.PICKUP
    assert h.order_number is not None
    return CarrierOrder(
        order_number=h.order_number, direction=Direction(h.direction),
        sender=citizen if pickup else desk, receiver=desk if pickup else citizen,
        cod_amount=h.cod_amount, description=f"{h.procedure_name} - hồ sơ {h.dossier_code}"[:200],
        sender_desc=("Hồ sơ gửi tới " if pickup else "Kết quả TTHC từ ") + (h.agency_name or ""),
    )


def perform(ports: Ports, order: CarrierOrder) -> PostOutcome:
    return ports.carrier.post_order(order)


def settle(step: Step, job: ledger.Claimed, outcome: PostOutcome) -> None:
    h = step.handoff
    code = "101" if outcome.already_existed else "100"
    text = "đơn đã tồn tại (gửi lại)" if outcome.already_existed else "bưu điện nhận đơn"
    handoffs.apply(step.session, h, handoffs.Change(
        Status.ACCEPTED, EventSource.WORKER, utcnow(), raw_code=code,
        raw_text=outcome.message or text,
        dedup_key=f"accepted:{h.order_number}"))


def settle_failure(step: Step, job: ledger.Claimed, failure: HandoffError,
                   duration_ms: int | None) -> None:
    """Refused or never reached: the hand-off needs a person (the one-stop is told)."""
    reason = dead(step, job, failure, duration_ms)
    handoffs.needs_attention(step.session, step.handoff, reason)
