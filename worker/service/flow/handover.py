"""Hand-over records (biên bản bàn giao): made for the hand-offs the courier is to take (or
bring), printed again as the same record, closed at the desk or by the carrier's events.

A record is made for a set of hand-offs of one agency and direction (worker/domain/handover.py
says which wait for one); what it prints is stored on it then (handover_rows.py). Printing
again for the same set, while its record is open, gives that record (same number, same
rows). A record for another set that shares hand-offs with an open one replaces it (closed
as `replaced`): a hand-off is on at most one open record (the unique `open_handoff_id`).
Each hand-off's timeline names its record. A change that settles a hand-off (picked up, or
delivered to the desk for a collection; or ended, cancelled too, whatever the source) takes
it off its record; the record closes when none is left. A hand-off still unsettled on a
record (open, or closed at the desk) N hours after it was made is late
(Rule.HANDOVER_NOT_TAKEN).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, select
from sqlalchemy.orm import Session

from worker.db.failures import outside_failure
from worker.db.models import Handoff, HandoverRecord, HandoverRecordItem, utcnow
from worker.domain.enums import EventSource
from worker.domain.errors import InvalidInput
from worker.domain.handover import (
    AWAITING,
    UNSETTLED,
    ClosedHow,
    Refusal,
    content_key,
    next_seq,
    no_record,
    number_prefix,
    record_number,
    settled,
)
from worker.domain.moments import local_date
from worker.domain.reason_codes import Reason, ReasonCode, reason
from worker.domain.statuses import Direction, Status
from worker.service.flow import handover_rows, status_log
from worker.service.flow.handover_known import surely_on_none

log = logging.getLogger(__name__)

CARRIER_VI = "bưu điện"  # who closed a record the carrier's events settled
TRIES = 3  # the chosen hand-offs changed while being locked: chosen again


@dataclass(frozen=True)
class Made:
    number: str
    created: bool  # False: the open record for the same hand-offs, printed again


def candidates(session: Session, agency_code: str | None, direction: str) -> list[Handoff]:
    """The hand-offs waiting for a record: awaiting the courier and on no closed record
    (one closed at the desk was handed over already), oldest first."""
    closed = select(HandoverRecordItem.handoff_id).join(
        HandoverRecord, HandoverRecord.id == HandoverRecordItem.record_id).where(
        HandoverRecord.closed_how.in_([ClosedHow.DESK.value, ClosedHow.CARRIER.value]))
    q = select(Handoff).where(
        Handoff.direction == Direction(direction).value,
        Handoff.status.in_([s.value for s in AWAITING[Direction(direction)]]),
        Handoff.id.not_in(closed))
    if agency_code:
        q = q.where(Handoff.agency_code == agency_code)
    return list(session.scalars(q.order_by(Handoff.ready_at, Handoff.id)))


def chosen(session: Session, agency_code: str | None, direction: str,
           codes: list[str] | None) -> list[Handoff]:
    """The hand-offs of a record: every candidate of the agency, or those named (dossier
    code or order number). Refuses, naming the code, one that waits for no record."""
    found = candidates(session, agency_code, direction)
    if codes:
        by_code = {h.dossier_code: h for h in found} | {h.order_number: h for h in found
                                                         if h.order_number}
        missing = [c for c in codes if c not in by_code]
        if missing:
            raise InvalidInput(f"hồ sơ {', '.join(missing[:5])} không chờ bàn giao (chưa gọi "
                               f"bưu tá, bưu tá đã nhận, hoặc thuộc đơn vị khác)",
                               field="codes", code=Refusal.NOT_WAITING)
        found = list({by_code[c].id: by_code[c] for c in codes}.values())
    if not found:
        raise InvalidInput("không có hồ sơ nào chờ bàn giao cho bưu tá", field="codes",
                           code=Refusal.NONE_WAITING)
    agencies = {h.agency_code for h in found}
    if len(agencies) > 1:
        raise InvalidInput("các hồ sơ thuộc nhiều đơn vị; mỗi biên bản một đơn vị",
                           field="agency", code=Refusal.MIXED_AGENCIES)
    return found


def make_record(session: Session, *, agency_code: str | None, direction: str,
                codes: list[str] | None, actor: str, now: datetime | None = None) -> Made:
    """The record for these hand-offs: the open one for the same set, or a new one."""
    rows = _chosen_locked(session, agency_code, direction, codes)
    agency, key = rows[0].agency_code, content_key(h.id for h in rows)
    same = session.scalar(select(HandoverRecord).where(
        HandoverRecord.agency_code == agency, HandoverRecord.direction == direction,
        HandoverRecord.content_key == key, HandoverRecord.closed_at.is_(None)))
    if same is not None:
        return Made(same.number, False)
    now = now or utcnow()
    day = local_date(now)
    assert day is not None
    prefix = number_prefix(agency, day)
    taken = session.scalars(select(HandoverRecord.number).where(
        HandoverRecord.number.startswith(prefix, autoescape=True)))
    record = HandoverRecord(number=record_number(agency, day, next_seq(taken, prefix)),
                            agency_code=agency, direction=direction, content_key=key,
                            created_by=actor, created_at=now, closed_by="",
                            printed=handover_rows.printed(session, rows))
    session.add(record)
    _replace_overlapping(session, [h.id for h in rows], record.number, actor, now)
    session.flush()
    for pos, h in enumerate(rows, 1):
        session.add(HandoverRecordItem(record_id=record.id, handoff_id=h.id, position=pos,
                                       open_handoff_id=h.id))
        _log(session, h, reason(ReasonCode.HANDOVER_RECORDED, number=record.number), actor, now)
    session.flush()
    return Made(record.number, True)


def _chosen_locked(session: Session, agency_code: str | None, direction: str,
                   codes: list[str] | None) -> list[Handoff]:
    """The chosen hand-offs, row-locked, chosen again under the lock: a pick-up committed
    meanwhile is seen (READ COMMITTED), and no other desk or carrier event moves them until
    commit. Locked in id order with NOWAIT: the feed locks hand-offs in its events' order, so
    a desk that waited while holding some could deadlock with it. The desk never waits on a
    lock (hand-offs, records: NOWAIT), so it is never in a deadlock; it tries again (at_desk).
    """
    for _ in range(TRIES):
        ids = sorted(h.id for h in chosen(session, agency_code, direction, codes))
        _lock_handoffs(session, ids)
        rows = chosen(session, agency_code, direction, codes)
        if {h.id for h in rows} <= set(ids):
            return rows
    raise BusyError("hand-offs changing while being locked")


def _lock_handoffs(session: Session, ids: list[int]) -> None:
    session.execute(select(Handoff.id).where(Handoff.id.in_(ids)).order_by(Handoff.id)
                    .with_for_update(nowait=True))


class BusyError(Exception):
    """Another desk or a carrier event holds these hand-offs: try again in a moment
    (handover_desk.at_desk)."""


def close_by_desk(session: Session, number: str, actor: str,
                  agency_code: str | None = None) -> HandoverRecord:
    """"Đã bàn giao": the courier signed; the record and its hand-offs are closed. Locks as
    everywhere: its hand-offs (id order, NOWAIT), then the record, then its items."""
    found = session.scalar(select(HandoverRecord).where(HandoverRecord.number == number))
    if found is None or (agency_code and found.agency_code != agency_code):
        raise no_record(number)
    _lock_handoffs(session, sorted(h.id for _, h in _open_items(session, found.id)))
    record = session.scalar(select(HandoverRecord).where(HandoverRecord.id == found.id)
                            .with_for_update(nowait=True)
                            .execution_options(populate_existing=True))
    assert record is not None
    if record.closed_how == ClosedHow.REPLACED:
        raise InvalidInput(f"biên bản {number} đã được thay bằng biên bản "
                           f"{record.replaced_by}; hãy bàn giao theo biên bản đó",
                           field="number", code=Refusal.REPLACED)
    if record.closed_how == ClosedHow.CANCELLED:
        raise InvalidInput(f"biên bản {number} đã đóng: mọi hồ sơ trên đó đã hủy",
                           field="number", code=Refusal.CANCELLED)
    if record.closed_at is not None:  # handed over already (a second click), or taken
        return record
    now = utcnow()
    for item, h in _open_items(session, record.id):
        item.open_handoff_id = None
        _log(session, h, reason(ReasonCode.HANDOVER_CONFIRMED, number=number), actor, now)
    record.closed_at, record.closed_by, record.closed_how = now, actor, ClosedHow.DESK.value
    return record


def leave_record(session: Session, handoff: Handoff, at: datetime,
                 source: EventSource) -> None:
    """After any status change (handoffs.set_status): a hand-off it settled (the courier
    took it, it ended, it was cancelled) leaves its open record, and the record closes once
    none is left. In a savepoint of its own: a failure here is logged by id and never undoes
    the change, nor the carrier event that brought it; the database failing (a deadlock, a
    lost connection) is raised, so the change and the event are rolled back and taken again
    whole rather than committed without their record kept right."""
    if not settled(handoff.direction, handoff.status) or surely_on_none(session, handoff.id):
        return
    found = session.scalar(select(HandoverRecordItem.record_id).where(
        HandoverRecordItem.open_handoff_id == handoff.id))
    if found is None:  # on no open record (most): no savepoint, two round trips fewer
        return
    try:
        with session.begin_nested():
            _leave(session, handoff, found, at, source)
    except Exception as err:
        if outside_failure(err):  # the database failing: the whole change is retried
            raise
        log.error("hand-off %s: not taken off its hand-over record (%s)", handoff.id,
                  type(err).__name__)


def _leave(session: Session, handoff: Handoff, found: int, at: datetime,
           source: EventSource) -> None:
    # lock order everywhere: the hand-off (held by the caller), its record, then the item
    record = session.scalar(select(HandoverRecord).where(HandoverRecord.id == found)
                            .with_for_update().execution_options(populate_existing=True))
    item = session.scalar(select(HandoverRecordItem).where(
        HandoverRecordItem.record_id == found,
        HandoverRecordItem.open_handoff_id == handoff.id).with_for_update()
        .execution_options(populate_existing=True))
    if record is None or item is None:  # the desk closed it meanwhile
        return
    item.open_handoff_id = None
    cancelled = handoff.status == Status.CANCELLED
    why = ReasonCode.HANDOVER_DROPPED if cancelled else ReasonCode.HANDOVER_TAKEN
    by = CARRIER_VI if source in (EventSource.CARRIER_FEED, EventSource.CARRIER_PUSH) else source
    _log(session, handoff, reason(why, number=record.number), str(by), at, source)
    session.flush()
    if _open_items(session, record.id):
        return
    statuses = session.scalars(select(Handoff.status).join(
        HandoverRecordItem, HandoverRecordItem.handoff_id == Handoff.id).where(
        HandoverRecordItem.record_id == record.id))
    every_cancelled = all(st == Status.CANCELLED for st in statuses)
    record.closed_at = at
    record.closed_how = (ClosedHow.CANCELLED if every_cancelled else ClosedHow.CARRIER).value
    record.closed_by = str(by) if every_cancelled else CARRIER_VI


def unsettled_record() -> tuple[ScalarSelect[datetime], ScalarSelect[str]]:
    """For the SLA scan, beside each hand-off: when its record was made and its number, if
    the hand-off is on one (open, or closed at the desk) and not settled by the carrier."""
    q = (select(HandoverRecord.created_at).join(
        HandoverRecordItem, HandoverRecordItem.record_id == HandoverRecord.id).where(
        HandoverRecordItem.handoff_id == Handoff.id,
        (HandoverRecord.closed_how.is_(None)) | (HandoverRecord.closed_how == ClosedHow.DESK),
        ((Handoff.direction == Direction.RESULT_DELIVERY.value)
         & Handoff.status.in_(UNSETTLED[Direction.RESULT_DELIVERY]))
        | ((Handoff.direction == Direction.PICKUP.value)
           & Handoff.status.in_(UNSETTLED[Direction.PICKUP])))
        .order_by(HandoverRecord.created_at.desc()).limit(1))
    number = q.with_only_columns(HandoverRecord.number)
    return q.scalar_subquery(), number.scalar_subquery()


def _open_items(session: Session, record_id: int) -> list[tuple[HandoverRecordItem, Handoff]]:
    return [(i, h) for i, h in session.execute(select(HandoverRecordItem, Handoff).join(
        Handoff, Handoff.id == HandoverRecordItem.handoff_id).where(
        HandoverRecordItem.record_id == record_id,
        HandoverRecordItem.open_handoff_id.is_not(None)))]


def _replace_overlapping(session: Session, ids: list[int], number: str, actor: str,
                         now: datetime) -> None:
    """Close as replaced every open record holding one of `ids` (hand-offs the caller holds
    locked: the records are locked next, in id order, and read again under the lock)."""
    held = select(HandoverRecordItem.record_id).where(HandoverRecordItem.open_handoff_id.in_(ids))
    older = session.scalars(select(HandoverRecord).where(
        HandoverRecord.id.in_(held), HandoverRecord.closed_at.is_(None))
        .order_by(HandoverRecord.id).with_for_update(nowait=True)
        .execution_options(populate_existing=True)).all()
    for record in older:
        for item, h in _open_items(session, record.id):
            item.open_handoff_id = None
            _log(session, h, reason(ReasonCode.HANDOVER_REPLACED, number=record.number,
                                    by=number), actor, now)
        record.closed_at, record.closed_by = now, actor
        record.closed_how, record.replaced_by = ClosedHow.REPLACED.value, number
    session.flush()


def _log(session: Session, h: Handoff, why: Reason, actor: str, at: datetime,
         source: EventSource = EventSource.DESK) -> None:
    status_log.log(session, h, status_log.Change(None, source, at, notes=actor), True, why)
