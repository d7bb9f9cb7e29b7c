"""A feed chunk's writes, counted: its log rows go in one INSERT (status_log.held) and its
changed hand-offs in one UPDATE (tracking.written_alike), whatever mix of events it holds;
the log rows held behave as rows added to the session would: a query in the block sees
them, an error drops them, and a row logged in a savepoint rolled back goes with it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tests.service.test_feed_chunk import T0, _ev
from tests.service.world import World
from worker.db.engine import Database
from worker.db.models import Handoff, StatusLogEntry
from worker.domain.enums import EventSource
from worker.domain.reason_codes import ReasonCode, reason
from worker.domain.statuses import Status
from worker.service.flow import feeds, status_log
from worker.service.ledger import uow


@contextmanager
def _writes(db: Database) -> Iterator[Counter[str]]:
    """The INSERTs and UPDATEs sent inside the block, by table."""
    seen: Counter[str] = Counter()

    def count(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        words = statement.split()
        if words[0] in ("INSERT", "UPDATE"):
            seen[f"{words[0]} {words[2] if words[0] == 'INSERT' else words[1]}"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _posted(world: World, count: int) -> list[tuple[str, int]]:
    made = [world.requested(n) for n in range(1, count + 1)]
    world.work()  # posted: the order number is the dossier's, /R1
    return [(f"{code}/R1", hid) for code, hid in made]


def test_a_chunk_of_mixed_events_writes_one_insert_of_log_rows_and_one_update(
        world: World) -> None:
    """Hand-offs moved by different events (picked up with an item code, delivered, a
    code of no milestone, a copy of an event): before, each set of columns changed was an
    UPDATE of its own and each set of log columns left empty an INSERT of its own."""
    orders = _posted(world, 4)
    (a, ha), (b, hb), (c, hc), (d, hd) = orders
    at = T0 + timedelta(minutes=1)
    chunk = [
        _ev(a, "a1", 1, Status.PICKED_UP, at),
        _ev(b, "b1", 1, Status.PICKED_UP, at),
        _ev(b, "b2", 5, Status.DELIVERED, at + timedelta(minutes=1)),
        _ev(c, "c1", 99, None, at),  # a code of no milestone: logged, moves nothing
        _ev(a, "a1", 1, Status.PICKED_UP, at),  # the same event again: a copy
        _ev(d.replace("/R1", "/X9"), "x1", 1, Status.PICKED_UP, at),  # an order of nobody
        _ev(d, "d1", 3, Status.IN_TRANSIT, at),
    ]
    with _writes(world.rt.db) as seen, uow.begin(world.rt) as s:
        feeds.apply_chunk(s, chunk)
    assert seen["INSERT status_log"] == 1
    assert seen["UPDATE handoffs"] == 1
    statuses = {hid: world.handoff(hid).status for hid in (ha, hb, hc, hd)}
    assert statuses == {ha: "picked_up", hb: "delivered", hc: "accepted", hd: "in_transit"}
    assert world.handoff(hb).final_at is not None
    assert world.handoff(ha).item_code == "EB123456785VN"
    with world.rt.db.unit_of_work() as s:
        rows = s.execute(select(StatusLogEntry.order_number, StatusLogEntry.reason_code,
                                StatusLogEntry.reason_params, StatusLogEntry.recorded_at)
                         .where(StatusLogEntry.source == EventSource.CARRIER_FEED)
                         .order_by(StatusLogEntry.id)).all()
    assert [(o, rc) for o, rc, _, _ in rows] == [
        (a, "forward"), (b, "forward"), (b, "forward"), (c, "unknown_code"),
        (a, "duplicate_event"), (d.replace("/R1", "/X9"), "order_not_known"),
        (d, "forward")]  # in the events' order
    assert rows[4].reason_params == {"event_id": "a1"}  # the copy's, as stored data
    assert all(row.recorded_at is not None for row in rows)


_MINE = StatusLogEntry.reason_code == ReasonCode.PERMANENT_ERROR.value  # (the rows below)


def _logged(session: Session, handoff: Handoff, note: str) -> None:
    status_log.log(session, handoff, status_log.Change(None, EventSource.WORKER, T0,
                                                       notes=note), True,
                   reason(ReasonCode.PERMANENT_ERROR))


def _notes(world: World, hid: int) -> list[str]:
    with world.rt.db.unit_of_work() as s:
        return list(s.scalars(select(StatusLogEntry.notes).where(
            StatusLogEntry.handoff_id == hid, _MINE).order_by(StatusLogEntry.id)))


@contextmanager
def _one_posted(world: World) -> Iterator[tuple[Session, Handoff]]:
    """A posted hand-off, in a unit of work committed at the block's end."""
    ((_, hid),) = _posted(world, 1)
    with uow.begin(world.rt) as s:
        yield s, s.get_one(Handoff, hid)


def test_rows_held_are_read_by_a_query_in_the_block_and_dropped_with_an_error(
        world: World) -> None:
    with _one_posted(world) as (s, handoff), status_log.held(s):
        hid = handoff.id
        _logged(s, handoff, "one")
        _logged(s, handoff, "two")
        assert s.scalar(select(func.count()).select_from(StatusLogEntry).where(
            StatusLogEntry.handoff_id == hid, _MINE)) == 2
        _logged(s, handoff, "three")
    assert _notes(world, hid) == ["one", "two", "three"]

    with uow.begin(world.rt) as s:  # committed, without the block's rows
        handoff = s.get_one(Handoff, hid)
        with pytest.raises(RuntimeError, match="the block failed"), status_log.held(s):
            _logged(s, handoff, "lost")
            raise RuntimeError("the block failed")
        with pytest.raises(RuntimeError, match="do not nest"), status_log.held(s), \
                status_log.held(s):
            pass
    assert _notes(world, hid) == ["one", "two", "three"]


def test_a_row_logged_in_a_savepoint_rolled_back_goes_and_the_rows_held_stay(
        world: World) -> None:
    with _one_posted(world) as (s, handoff), status_log.held(s):
        hid = handoff.id
        _logged(s, handoff, "before")
        with pytest.raises(RuntimeError), s.begin_nested():
            _logged(s, handoff, "inside")
            s.execute(select(Handoff.id).where(Handoff.id == hid))  # a query in there
            raise RuntimeError("the savepoint's own failure")
        _logged(s, handoff, "after")
    assert _notes(world, hid) == ["before", "after"]
