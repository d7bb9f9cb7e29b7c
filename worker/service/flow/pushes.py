"""Taking one verified carrier status push: receipt, attribution, then the tracking rules.

The web route (worker/web/carrier_hooks.py) has checked the signature with the agency's
push secret before anything here runs. Then, in one transaction:
- the receipt: one row per (agency, `ems-transaction`) id and per (agency, content key),
  by two unique indexes. The carrier re-sends an id until it is answered "success"; a
  re-sent one is answered again and not applied twice. A push identical in content (order,
  status code, time: push.read_push) to one the agency already received is answered
  "success" and stores nothing: a captured push replayed under fresh ids leaves no trace;
- the order: found by its order number (or, when the push gave only the item code, by that);
  it must be an order of this agency's post-office account, else the push is logged, not
  applied (a push secret speaks for one account's orders only);
- the event goes through tracking.apply_event as a feed event does, so a milestone told by
  push and again by the feed is one applied event.
The event is taken in its own savepoint (isolation.take_one): whatever goes wrong with the
event itself, it is quarantined in the status log and the carrier still gets its answer.
The database failing (a deadlock, a lost connection) is no fault of the event: nothing is
stored and the carrier is answered 503, so it sends the push again.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.inserts import insert_new
from worker.db.models import CarrierPushReceipt, Handoff, Job
from worker.domain.enums import EventSource
from worker.domain.model import CarrierAccount, TrackingEvent
from worker.domain.reason_codes import ReasonCode, reason
from worker.service import agencies
from worker.service.agencies.vault import VaultError
from worker.service.flow import handoffs, tracking
from worker.service.flow.isolation import Described, take_one
from worker.settings import Settings

log = logging.getLogger(__name__)


class PushOutcome(StrEnum):
    """What came of one push (logged; the carrier is answered "success" for each)."""

    TAKEN = "taken"  # through the state machine: applied or logged as it decided
    DUPLICATE = "duplicate"  # this transaction id was taken before
    SAME_CONTENT = "same_content"  # another id, but this very milestone was taken before
    NOT_OURS = "not_ours"  # an order of another account: logged, not applied
    QUARANTINED = "quarantined"  # taking it failed: logged for ops


def take_push(session: Session, settings: Settings, agency_code: str,
              account: CarrierAccount, transaction: str, ev: TrackingEvent,
              content_key: str) -> tuple[PushOutcome, list[int]]:
    """Take one verified push of `agency_code` (whose account is `account`); the ids of the
    jobs it queued (the one-stop push-back) for the caller's unit of work to ring."""
    seen = _receipt(session, agency_code, transaction, ev.order_number, content_key)
    if seen is not None:
        log.info("carrier push %s of agency %s: %s", transaction, agency_code,
                 "duplicate transaction" if seen is PushOutcome.DUPLICATE
                 else "same order, code and time as an earlier push: not taken again")
        return seen, []
    outcome = [PushOutcome.TAKEN]

    def take(event: TrackingEvent) -> list[Job | None]:
        handoff = _order_of(session, event)
        if handoff is not None and handoff.order_number:
            event = replace(event, order_number=handoff.order_number)
            if not _same_account(session, settings, handoff, agency_code, account):
                outcome[0] = PushOutcome.NOT_OURS
                _log_not_ours(session, handoff, event, agency_code)
                return []
        elif not event.order_number:  # only an item code, and no hand-off has it
            _log_unknown_item(session, event)
            return []
        # an order number we do not know is logged there as "order not known"
        return [tracking.apply_event(session, event, EventSource.CARRIER_PUSH)]

    jobs = take_one(session, ev, take, lambda e: Described(
        f"push {transaction}", EventSource.CARRIER_PUSH, order_number=e.order_number))
    if jobs is None:
        outcome[0] = PushOutcome.QUARANTINED
    log.info("carrier push %s of agency %s for order %s: %s", transaction, agency_code,
             ev.order_number or ev.item_code, outcome[0])
    return outcome[0], jobs or []


def _receipt(session: Session, agency_code: str, transaction: str, order_number: str,
             content_key: str) -> PushOutcome | None:
    """None the first time this agency's transaction id and content are seen, else which
    was seen before. The unique indexes decide (no look-up first: two copies at once
    cannot both pass); which one refused is only read afterwards, for the log."""
    if not insert_new(session, CarrierPushReceipt, {
            "agency_code": agency_code, "transaction_id": transaction,
            "order_number": order_number[:50], "content_key": content_key}):
        same_id = session.scalar(select(CarrierPushReceipt.id).where(
            CarrierPushReceipt.agency_code == agency_code,
            CarrierPushReceipt.transaction_id == transaction))
        return PushOutcome.DUPLICATE if same_id is not None else PushOutcome.SAME_CONTENT
    return None


def _order_of(session: Session, ev: TrackingEvent) -> Handoff | None:
    """The hand-off the push names: by order number, else by item code (the newest)."""
    if ev.order_number:
        return handoffs.by_order_number(session, ev.order_number)
    if not ev.item_code:
        return None
    return session.scalar(select(Handoff).where(Handoff.item_code == ev.item_code)
                          .order_by(Handoff.id.desc()).limit(1))


def _same_account(session: Session, settings: Settings, handoff: Handoff, agency_code: str,
                  account: CarrierAccount) -> bool:
    """Whether the hand-off's orders go by the pushing agency's post-office account: its
    own agency, or another agency on the very same account (route and customer code)."""
    if handoff.agency_code == agency_code:
        return True
    try:
        theirs = agencies.account_of(session, settings, handoff.agency_code)
    except VaultError as err:
        log.error("agency %s: %s", handoff.agency_code, err)
        return False
    return theirs is not None and theirs.key == account.key


def _log_not_ours(session: Session, handoff: Handoff, ev: TrackingEvent,
                  agency_code: str) -> None:
    log.warning("carrier push for order %s came by agency %s, whose account it is not",
                ev.order_number, agency_code)
    # not unique: the copy that comes by the right account (or the feed) still counts
    handoffs.log(session, handoff, _change(ev), False,
                 reason(ReasonCode.ORDER_OF_OTHER_ACCOUNT, agency=agency_code))


def _log_unknown_item(session: Session, ev: TrackingEvent) -> None:
    """A push that named only an item code no hand-off has. Not keyed (its key would hold
    no order number, so two such items could pass for one): logged as "order not known"."""
    handoffs.log(session, None, _change(ev, notes=f"mã bưu gửi {ev.item_code}"), False,
                 reason(ReasonCode.ORDER_NOT_KNOWN))


def _change(ev: TrackingEvent, *, notes: str | None = None) -> handoffs.Change:
    """The push as a log entry that the log's unique index does not hold it to."""
    return handoffs.Change(
        ev.status, EventSource.CARRIER_PUSH, ev.occurred_at, raw_code=str(ev.raw_code),
        raw_text=ev.raw_text, post_office=ev.post_office,
        notes=ev.notes if notes is None else notes, known_code=ev.known_code)

