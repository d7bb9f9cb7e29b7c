"""Applying the carrier's tracking events: every event logged, forward moves pushed back.

Events come by two paths: the tracking feed (the safety net, always on) and, where the
carrier offers it, the status push (worker/service/flow/pushes.py). The two speak different
codes, so "the same event" is decided on the milestone both map to: the order, the
normalized status and the time to the second. The first copy of a milestone is logged
(applied or not, as the state machine decides) with its milestone key in the log's unique
`dedup_key`; any later copy, by either path, is logged as a duplicate and moves nothing.
Informational and unknown codes have no milestone: they are keyed by their own code.
A milestone the state machine does not apply because the hand-off is already past it is
still told to the one-stop once, marked late (domain.transitions.told_late): the push
product lacks some codes (failed pick-ups), so the feed brings them after the push moved on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import floor

from sqlalchemy import ColumnElement, and_, inspect, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from worker.db.models import Handoff, Job, StatusLogEntry
from worker.db.sets import among
from worker.domain.enums import EventSource
from worker.domain.model import TrackingEvent
from worker.domain.reason_codes import ReasonCode, reason
from worker.domain.statuses import Status
from worker.domain.transitions import told_late
from worker.service.flow import cod, handoffs
from worker.service.flow.handover_known import know_open

CARRIER_SOURCES = (EventSource.CARRIER_FEED, EventSource.CARRIER_PUSH)
# a row a carrier event wrote with its key: what `_seen`'s same-second test looks among
_KEYED_CARRIER_ROW = (StatusLogEntry.source.in_(CARRIER_SOURCES),
                      StatusLogEntry.dedup_key.is_not(None))


def milestone_key(order_number: str, status: Status, occurred_at: datetime) -> str:
    """One milestone of one order, whichever path told it: the push gives its time to the
    second (local, no zone), the feed in milliseconds, so the key keeps whole seconds."""
    return f"milestone:{order_number}|{status.value}|{int(occurred_at.timestamp())}"


def code_key(ev: TrackingEvent, source: EventSource) -> str:
    """An event keyed by its own code. The feed's form, `carrier:order|code|ms`, is what
    every feed row was stored with before milestone keys, so rows already in a database
    are still recognised; the push's codes are another table, hence another prefix."""
    prefix = "push" if source == EventSource.CARRIER_PUSH else "carrier"
    return f"{prefix}:{ev.dedup_key}"


def event_keys(ev: TrackingEvent, source: EventSource) -> tuple[str, tuple[str, ...]]:
    """(the key stored on the event's row, every key under which it was seen before)."""
    own = code_key(ev, source)
    if ev.status is None:
        return own, (own,)
    milestone = milestone_key(ev.order_number, ev.status, ev.occurred_at)
    return milestone, (milestone, own)


@dataclass
class Known:
    """What a chunk of feed events needs from the database, read once for the chunk rather
    than once per event: their hand-offs (row-locked, in id order), the keys of theirs
    already in the log, and the (hand-off, status, second) of the hand-offs' carrier rows
    (`_seen`'s second test). `apply_event` adds the key of each keyed row it writes, so a
    copy later in the same chunk is found as the database would find it (one with the same
    hand-off, status and second has the same milestone key)."""

    handoffs: dict[str, Handoff]
    keys: set[str]
    seconds: set[tuple[int, str, int]] = field(default_factory=set)
    # the chunk's fee events, recorded once its events are applied (cod.record_many)
    fees: list[tuple[Handoff, TrackingEvent]] = field(default_factory=list)
    # by hand-off: the statuses queued for the one-stop (handoffs.told), read for the
    # chunk and added to by `apply_event` as it queues more
    told: dict[int, list[tuple[Status, datetime]]] = field(default_factory=dict)

    def seen(self, handoff: Handoff | None, ev: TrackingEvent, keys: tuple[str, ...]) -> bool:
        if any(k in self.keys for k in keys):
            return True
        return handoff is not None and ev.status is not None and (
            handoff.id, ev.status.value, floor(ev.occurred_at.timestamp())) in self.seconds


def read_known(session: Session, events: list[TrackingEvent],
               source: EventSource = EventSource.CARRIER_FEED) -> Known:
    """Lock the events' hand-offs (at once, in id order: two chunks do not deadlock on
    them, and a push locks only one) and read what `_seen` would read, the statuses told
    of each (`told_late`'s look-up) and which are on an open hand-over record, in five
    queries."""
    orders = sorted({ev.order_number for ev in events})
    # populate_existing: the values read under the lock, not those of an earlier read (a
    # chunk taken again after its savepoint's rollback released the locks meanwhile)
    found = session.scalars(select(Handoff).where(among(session, Handoff.order_number, orders))
                            .order_by(Handoff.id).with_for_update()
                            .execution_options(populate_existing=True)).all() if orders else []
    keys = sorted({k for ev in events for k in event_keys(ev, source)[1]})
    logged = {k for k in session.scalars(select(StatusLogEntry.dedup_key).where(
        among(session, StatusLogEntry.dedup_key, keys))) if k} if keys else set()
    seconds: set[tuple[int, str, int]] = set()
    if found:
        rows = session.execute(select(
            StatusLogEntry.handoff_id, StatusLogEntry.status, StatusLogEntry.occurred_at).where(
            among(session, StatusLogEntry.handoff_id, [h.id for h in found]),
            *_KEYED_CARRIER_ROW,
            StatusLogEntry.status.is_not(None)))
        seconds = {(hid, status, floor(at.timestamp())) for hid, status, at in rows
                   if hid is not None and status is not None}
    know_open(session, [h.id for h in found])  # (the records' look-up, once too)
    told = handoffs.told_many(session, [h.id for h in found]) if found else {}
    return Known({h.order_number: h for h in found if h.order_number}, logged, seconds,
                 told=told)


# every column of a hand-off that an event may change (handoffs.apply, set_status, item code)
_EVENT_COLUMNS = ("status", "status_reason", "item_code", "last_carrier_code",
                  "last_carrier_text", "accepted_at", "final_at", "last_event_at")


def written_alike(known: Known) -> None:
    """Every hand-off a chunk's events changed sets all of `_EVENT_COLUMNS` at the flush
    (flag_modified; an unchanged value is written as it was), so that their UPDATEs are one
    statement: the unit of work groups rows by the columns they set, in turn, and a chunk's
    hand-offs, each changed by another sort of event, made a score of statements."""
    for handoff in known.handoffs.values():
        state = inspect(handoff)
        if state.modified:
            for column in _EVENT_COLUMNS:
                if column in state.dict:  # (one not loaded cannot be flagged: left out)
                    flag_modified(handoff, column)


def apply_event(session: Session, ev: TrackingEvent,
                source: EventSource = EventSource.CARRIER_FEED,
                known: Known | None = None) -> Job | None:
    """Apply one carrier event. Duplicates, late events and unknown codes are logged only.
    `known`: what its chunk read once (read_known), in place of the event's own look-ups;
    with it, a fee event's fee is left in `known.fees` for the caller to record once the
    chunk's events are applied (cod.record_many: flow/feeds.py)."""
    key, seen_as = event_keys(ev, source)
    change = handoffs.Change(
        ev.status, source, ev.occurred_at, raw_code=str(ev.raw_code), raw_text=ev.raw_text,
        post_office=ev.post_office, notes=ev.notes, dedup_key=key, known_code=ev.known_code,
        unique=True,
    )
    if known is None:
        handoff = handoffs.by_order_number(session, ev.order_number)  # row-locked until commit
        seen = _seen(session, handoff, ev, seen_as)
    else:
        handoff = known.handoffs.get(ev.order_number)  # locked by read_known
        seen = known.seen(handoff, ev, seen_as)
    if seen:
        dup = handoffs.Change(**{**change.__dict__, "unique": False})
        handoffs.log(session, handoff, dup, False,
                     reason(ReasonCode.DUPLICATE_EVENT, event_id=ev.event_id),
                     order_number=ev.order_number)
        return None
    if known is not None:
        known.keys.add(key)  # the row written below carries it
    if handoff is None:
        handoffs.log(session, None, change, False, reason(ReasonCode.ORDER_NOT_KNOWN),
                     order_number=ev.order_number)
        return None
    if ev.item_code and not handoff.item_code:
        handoff.item_code = ev.item_code
    if known is None:  # fee codes 6/8: collected, remitted (informational)
        cod.record(session, handoff, ev)
    elif ev.cod is not None:
        known.fees.append((handoff, ev))  # recorded after the chunk's events
    decision, job = handoffs.apply(session, handoff, change)
    # the statuses told, as read for the chunk and added to with each push it queues
    told = known.told.setdefault(handoff.id, []) if known is not None else None
    _add_told(told, job)
    if not decision.applied and ev.status is not None and told_late(
            ev.status, ev.occurred_at,
            handoffs.told(session, handoff.id) if told is None else told):
        # the hand-off is past this milestone (e.g. a failed pick-up the feed brings after
        # the push said delivered): it moves nothing, but the one-stop hears it once
        job = handoffs.queue_push(session, handoff, change, late=True)
        _add_told(told, job)
    return job


def _add_told(told: list[tuple[Status, datetime]] | None, job: Job | None) -> None:
    """A push just queued, added to the chunk's statuses told (none without a chunk)."""
    if told is not None and job is not None:
        told += handoffs.told_by(job.payload)


def _seen(session: Session, handoff: Handoff | None, ev: TrackingEvent,
          keys: tuple[str, ...]) -> bool:
    """Whether this event (or its milestone) is in the log already. Besides the keys, a
    carrier row of the hand-off with the same status in the same second counts: rows the
    feed stored before milestone keys carry only their code key, which a push cannot
    compute (the feed's code is not the push's)."""
    seen: ColumnElement[bool] = StatusLogEntry.dedup_key.in_(keys)
    if handoff is not None and ev.status is not None:  # one query for both: one round trip
        second = ev.occurred_at.replace(microsecond=0)
        seen = or_(seen, and_(
            StatusLogEntry.handoff_id == handoff.id, StatusLogEntry.status == ev.status.value,
            *_KEYED_CARRIER_ROW, StatusLogEntry.occurred_at >= second,
            StatusLogEntry.occurred_at < second + timedelta(seconds=1)))
    return session.scalar(select(StatusLogEntry.id).where(seen).limit(1)) is not None
