"""Job kind post_order: ask the carrier for a courier (an order) for one hand-off."""

from __future__ import annotations

from dataclasses import dataclass

from worker.db.models import Handoff, utcnow
from worker.domain.enums import EventSource, JobKind
from worker.domain.errors import HandoffError
from worker.domain.job_payloads import PostPayload
from worker.domain.model import Address, CarrierAccount, CarrierOrder, Contact, PostOutcome
from worker.domain.reason_codes import ReasonCode, reason
from worker.domain.statuses import FINAL, Direction, Status
from worker.ports import Ports
from worker.service import agencies, ledger
from worker.service.agencies import AgencyRecord, areas
from worker.service.agencies.vault import VaultError
from worker.service.flow import handoffs
from worker.service.flow.waiting import hold, why_waiting
from worker.service.jobs.base import Skip, Step, System, dead, never_waits

KIND = JobKind.POST_ORDER
PAYLOAD = PostPayload
SYSTEM = System.CARRIER
REPLAY_WHEN_FINAL = False  # never a courier for a hand-off that is over
# a post waits for nothing: a cancel waits for it (cancel_order.must_wait)
must_wait = never_waits


@dataclass(frozen=True)
class Post:
    """The order and the account it goes by (its agency's route and credentials)."""

    order: CarrierOrder
    account: CarrierAccount


def prepare(step: Step, job: ledger.Claimed) -> Post | Skip:
    h = step.handoff
    if Status(h.status) in FINAL:
        # cancelled (or finished) while the post waited: never send a courier for it
        return Skip(f"skipped: hand-off {h.status}")
    record = agencies.get(step.session, h.agency_code)
    if record is None or not record.enabled:
        # disabled (or gone) since the hand-off came in: it waits for its agency, and
        # `handoff agency enable` revives this post (a dead job, so it can be revived)
        why = why_waiting(h.agency_code, record)
        assert why is not None
        return Skip(hold(step.session, h, why), dead=True)
    try:
        account = agencies.account_of(step.session, step.settings, h.agency_code)
    except VaultError:  # a key dropped too early: a person fixes it, then replays
        why = reason(ReasonCode.CREDENTIALS_UNREADABLE, agency=h.agency_code)
        return Skip(hold(step.session, h, why), dead=True)
    assert account is not None
    # the post office's area codes from the table in use (one query; None: unmapped)
    return Post(areas.resolve(step.session, build_order(record, h)), account)


def build_order(agency: AgencyRecord, h: Handoff) -> CarrierOrder:
    sender = agency.sender
    desk = Contact(name=h.agency_name or agency.name, phone=sender.phone, email=sender.email,
                   address=Address(sender.address.street, sender.address.province_code,
                                   sender.address.ward_code))
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


def perform(ports: Ports, post: Post) -> PostOutcome:
    return ports.carrier_for(post.account).post_order(post.order)


def settle(step: Step, job: ledger.Claimed, outcome: PostOutcome) -> None:
    h = step.handoff
    code = "101" if outcome.already_existed else "100"
    text = "đơn đã tồn tại (gửi lại)" if outcome.already_existed else "bưu điện nhận đơn"
    # (a hand-off the carrier's feed moved on before this answer was settled keeps its
    # status, "accepted" logged as a late event; that status set accepted_at: handoffs.
    # set_status)
    handoffs.apply(step.session, h, handoffs.Change(
        Status.ACCEPTED, EventSource.WORKER, utcnow(), raw_code=code,
        raw_text=outcome.message or text,
        dedup_key=f"accepted:{h.order_number}"))


def settle_failure(step: Step, job: ledger.Claimed, failure: HandoffError,
                   duration_ms: int | None) -> None:
    """Refused or never reached: the hand-off needs a person (the one-stop is told)."""
    reason = dead(step, job, failure, duration_ms)
    handoffs.needs_attention(step.session, step.handoff, reason)
