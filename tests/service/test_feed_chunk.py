"""A chunk of tracking-feed events applied with its look-ups read once (feeds.apply_chunk,
tracking.read_known) decides every event as applying them one at a time does: copies in
the same chunk, a milestone already in the log from an older row (same status, same
second, another key), an unknown order, an event quarantined (its next copy is new), and
hand-offs on an open hand-over record or on none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.service.test_handover import AGENCY, READY, _handoff, _make, _reasons
from tests.service.world import World
from worker.db.models import Handoff, Job, StatusLogEntry
from worker.domain.enums import EventSource, JobKind
from worker.domain.model import TrackingEvent
from worker.domain.statuses import Status
from worker.service.flow import feeds, handoffs, tracking
from worker.service.flow.isolation import Described, take_one
from worker.service.ledger import uow
from worker.service.views import handover_views

T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
OLD_OF_NOBODY = T0 + timedelta(minutes=6, milliseconds=200)
POISON = "poison"  # the event (id and text) whose taking raises: an entry's own fault


def _ev(order: str, event_id: str, code: int, status: Status | None, at: datetime
        ) -> TrackingEvent:
    text = POISON if event_id == POISON else f"mã {code}"
    return TrackingEvent(event_id=event_id, order_number=order, item_code="EB123456785VN",
                         occurred_at=at, raw_code=code, raw_text=text, status=status,
                         known_code=status is not None)


def _events(order: str) -> list[TrackingEvent]:
    """One page's worth of trouble for one order (and one order nobody has)."""
    nobody = order.replace("/R1", "/X9")
    return [
        _ev(order, "e1", 1, Status.PICKED_UP, T0 + timedelta(minutes=1)),
        # the same milestone in the same second, another id and code: a copy
        _ev(order, "e2", 2, Status.PICKED_UP, T0 + timedelta(minutes=1, milliseconds=400)),
        _ev(order, "e1", 1, Status.PICKED_UP, T0 + timedelta(minutes=1)),  # the same again
        _ev(order, POISON, 3, Status.IN_TRANSIT, T0 + timedelta(minutes=2)),  # quarantined
        _ev(order, "e4", 3, Status.IN_TRANSIT, T0 + timedelta(minutes=2)),  # so this is new
        _ev(order, "e5", 99, None, T0 + timedelta(minutes=3)),  # a code of no milestone
        _ev(order, "e5", 99, None, T0 + timedelta(minutes=3)),
        # delivered in the second of an older row that carries only its code key
        _ev(order, "e6", 5, Status.DELIVERED, T0 + timedelta(minutes=4, milliseconds=700)),
        _ev(nobody, "e7", 1, Status.PICKED_UP, T0 + timedelta(minutes=5)),
        _ev(nobody, "e7", 1, Status.PICKED_UP, T0 + timedelta(minutes=5)),
        # of nobody's, an old row's event again (a copy by its code key), then the same
        # milestone by another code: not in the log by either of its keys, so logged anew
        _ev(nobody, "e8", 1, Status.IN_TRANSIT, OLD_OF_NOBODY),
        _ev(nobody, "e9", 2, Status.IN_TRANSIT, OLD_OF_NOBODY + timedelta(milliseconds=300)),
    ]


def _rows_of_old(world: World, order: str, hid: int) -> None:
    """Carrier rows stored before milestone keys (their code key only): the hand-off's
    delivery, and an event of an order nobody has."""
    delivered = T0 + timedelta(minutes=4, milliseconds=100)
    nobody = order.replace("/R1", "/X9")
    with uow.begin(world.rt) as s:
        for handoff_id, number, code, status, at in (
                (hid, order, 5, Status.DELIVERED, delivered),
                (None, nobody, 1, Status.IN_TRANSIT, OLD_OF_NOBODY)):
            s.add(StatusLogEntry(
                handoff_id=handoff_id, dossier_code="", order_number=number,
                source=EventSource.CARRIER_FEED, status=status.value, raw_code=str(code),
                raw_text=f"mã {code}", applied=handoff_id is not None, reason="old",
                reason_code="legacy", reason_params={},
                dedup_key=f"carrier:{number}|{code}|{int(at.timestamp() * 1000)}",
                occurred_at=at))


def _outcome(world: World, order: str) -> tuple[list[tuple], list[str]]:
    """(each log row of the order: status, applied, reason code, keyed), pushes queued."""
    with world.rt.db.unit_of_work() as s:
        rows = s.execute(select(StatusLogEntry.status, StatusLogEntry.applied,
                                StatusLogEntry.reason_code, StatusLogEntry.dedup_key)
                         .where(StatusLogEntry.order_number.in_(
                             [order, order.replace("/R1", "/X9")]),
                                StatusLogEntry.source == EventSource.CARRIER_FEED)
                         .order_by(StatusLogEntry.id)).all()
        pushes = [j.payload["status"] for j in s.scalars(
            select(Job).where(Job.kind == JobKind.PUSH_STATUS).order_by(Job.id))
            if j.payload["dossier_code"] == order.split("/")[0]]
    return [(st, ap, rc, key is not None) for st, ap, rc, key in rows], pushes


def _ordered(world: World, n: int) -> tuple[str, int]:
    code, hid = world.requested(n)
    world.work()  # posted: the order number is the dossier's, /R1
    order = f"{code}/R1"
    _rows_of_old(world, order, hid)
    return order, hid


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Taking a POISON event raises, every time, as a value no column holds would."""
    real = handoffs.apply

    def apply(session, handoff, change, **kw):  # type: ignore[no-untyped-def]
        if change.raw_text == POISON:
            raise ValueError("an entry's own fault")
        return real(session, handoff, change, **kw)
    monkeypatch.setattr(handoffs, "apply", apply)


def _both_ways(world: World) -> tuple[list[tuple], list[str]]:
    """The events applied one at a time for one order, as a chunk for another: the
    chunk's outcome, once it was found the same as the other."""
    one_by_one, _ = _ordered(world, 1)
    chunked, _ = _ordered(world, 2)
    for ev in _events(one_by_one):  # the old way: each event's own look-ups, own savepoint
        with uow.begin(world.rt) as s:
            take_one(s, ev, lambda e: [tracking.apply_event(s, e)],
                     lambda e: Described(f"event {e.event_id}", EventSource.CARRIER_FEED,
                                         order_number=e.order_number))
    with uow.begin(world.rt) as s:  # one chunk in one transaction
        feeds.apply_chunk(s, _events(chunked))

    rows, pushes = _outcome(world, chunked)
    assert (rows, pushes) == _outcome(world, one_by_one)
    return rows, pushes


def test_a_chunk_where_nothing_fails_decides_as_one_at_a_time(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    rows, pushes = _both_ways(world)  # one savepoint for the chunk
    assert [st for st, applied, _, _ in rows if applied] == [
        "delivered", "picked_up", "in_transit"]  # the old row, then each milestone once
    assert [rc for _, _, rc, _ in rows[-2:]] == ["duplicate_event", "order_not_known"]
    assert "taken again" not in caplog.text  # one savepoint for the chunk: nothing failed
    assert pushes == ["accepted", "picked_up", "in_transit"]


@pytest.mark.usefixtures("poison")
def test_a_chunk_with_a_failing_event_decides_as_one_at_a_time(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    rows, pushes = _both_ways(world)
    assert "a chunk of 12 events taken again one by one (ValueError)" in caplog.text
    # after the old row: picked up (then two copies), the poisoned event quarantined and
    # its twin applied, the code of no milestone (then its copy), delivered a copy of the
    # old row's second, the unknown order (then its copy)
    assert [(st, ap, rc) for st, ap, rc, _ in rows] == [
        ("delivered", True, "legacy"), ("in_transit", False, "legacy"),
        ("picked_up", True, "forward"), ("picked_up", False, "duplicate_event"),
        ("picked_up", False, "duplicate_event"),
        (None, False, "entry_not_taken"), ("in_transit", True, "forward"),
        (None, False, "unknown_code"), (None, False, "duplicate_event"),
        ("delivered", False, "duplicate_event"),
        ("picked_up", False, "order_not_known"), ("picked_up", False, "duplicate_event"),
        ("in_transit", False, "duplicate_event"), ("in_transit", False, "order_not_known")]
    assert pushes == ["accepted", "picked_up", "in_transit"]


def test_a_chunk_takes_its_hand_offs_off_their_open_record(world: World) -> None:
    """Which hand-offs are on an open record is read once for the chunk (handover.know_open):
    the one on a record leaves it when the courier takes it, the one on none is logged as
    before, and the record closes once none is left."""
    on_record, on_none = _handoff(world, 1), _handoff(world, 2)
    made = _make(world, [on_record])
    at = READY + timedelta(hours=1)
    with uow.begin(world.rt) as s:
        feeds.apply_chunk(s, [_ev(f"{code}/R1", f"p{n}", 1, Status.PICKED_UP, at)
                              for n, code in enumerate((on_none, on_record))])
    assert _reasons(world, on_record)[-2:] == [("forward", ""), ("handover_taken", made.number)]
    assert [c for c, _ in _reasons(world, on_none)] == ["forward"]
    with uow.read(world.rt) as s:
        assert handover_views.open_records(s, AGENCY) == []


def test_a_chunk_whose_look_ups_fail_is_taken_event_by_event(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Reading the chunk's look-ups failing on the events' account (a value the query
    cannot take) never stops the feed: each event then reads its own, as a push does."""
    def unreadable(*_: object) -> None:
        raise ValueError("a value the query cannot take")
    monkeypatch.setattr(feeds, "read_known", unreadable)
    rows, pushes = _both_ways(world)
    assert "a chunk of 12 events taken again one by one (ValueError)" in caplog.text
    assert pushes == ["accepted", "picked_up", "in_transit"]
    assert "entry_not_taken" not in [rc for _, _, rc, _ in rows]


def test_a_chunk_whose_push_back_is_queued_already_keeps_every_event(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The push-backs a chunk queues are written together at its end (ledger
    .written_together): one whose key is queued already (a status told by another way whose
    log row is not there) fails the chunk's writing, and the chunk is taken again one
    event each, where the known key is told as known: every event is applied once, that
    status is queued once and nothing is quarantined."""
    code, hid = world.requested(1)
    world.work()  # posted and its "accepted" told
    order = f"{code}/R1"
    picked_at, transit_at = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    with uow.begin(world.rt) as s:  # the very push the chunk's first event queues
        told = handoffs.Change(Status.PICKED_UP, EventSource.CARRIER_FEED, picked_at,
                               raw_code="1", raw_text="mã 1", dedup_key=tracking.milestone_key(
                                   order, Status.PICKED_UP, picked_at))
        assert handoffs.queue_push(s, s.get_one(Handoff, hid), told) is not None
    with uow.begin(world.rt) as s:
        feeds.apply_chunk(s, [_ev(order, "e1", 1, Status.PICKED_UP, picked_at),
                              _ev(order, "e2", 2, Status.IN_TRANSIT, transit_at)])
    assert "a chunk of 2 events taken again one by one (IntegrityError)" in caplog.text
    rows, pushes = _outcome(world, order)
    assert [(st, ap, rc) for st, ap, rc, _ in rows if rc != "legacy"] == [
        ("picked_up", True, "forward"), ("in_transit", True, "forward")]
    assert pushes == ["accepted", "picked_up", "in_transit"]
