"""One bad feed entry never blocks a feed, on PostgreSQL (which enforces column sizes); a
chunk losing a deadlock never skips an entry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import exc, select, text

from tests.fakes import ListBell
from tests.support.waits import wait_for
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Cursor, Handoff, StatusLogEntry
from worker.domain.enums import EventSource
from worker.domain.model import CarrierOrder, FeedPage, PostOutcome, TrackingEvent
from worker.domain.statuses import Status
from worker.ports.carrier import CarrierPort
from worker.service.flow import feeds
from worker.service.ledger import leases
from worker.settings import Settings


class PagedCarrier(CarrierPort):
    """A fake carrier port that serves one prepared page, then nothing."""

    def __init__(self, events: list[TrackingEvent]) -> None:
        self.pages = [FeedPage(events, events[-1].event_id)]
        self.asked: list[str | None] = []  # the cursor of each fetch

    def post_order(self, order: CarrierOrder) -> PostOutcome:
        raise AssertionError("not used")

    def cancel_order(self, order_number: str) -> str:
        raise AssertionError("not used")

    def fetch_events(self, last_id: str | None, page_size: int = 1000) -> FeedPage:
        self.asked.append(last_id)
        return self.pages.pop(0) if self.pages else FeedPage([], last_id or "")

    def close(self) -> None:
        pass


def _event(oid: str, order: str, code: int, status: Status, post_office: str = "871500"
           ) -> TrackingEvent:
    return TrackingEvent(event_id=oid, order_number=order, item_code="EB123456785VN",
                         occurred_at=datetime(2026, 11, 26, 3, 0, tzinfo=UTC), raw_code=code,
                         raw_text="Chấp nhận gửi", status=status, known_code=True,
                         post_office=post_office)


@pytest.mark.services
def test_an_event_our_columns_cannot_hold_is_logged_and_the_feed_moves_on(pg_url):
    upgrade(pg_url)
    db = Database(pg_url)
    order = "000.00.17.H19-261126-0001/R1"
    with db.unit_of_work() as s:
        s.add(Handoff(dossier_code="000.00.17.H19-261126-0001", direction="result_delivery",
                      order_number=order, source_item_id="hof_1", status="accepted",
                      ready_at=datetime.now(UTC)))
    bad = _event("0" * 23 + "1", order, 2, Status.IN_TRANSIT, post_office="X" * 500)
    good = _event("0" * 23 + "2", order, 1, Status.PICKED_UP)
    rt = build_runtime(settings=Settings(database_url=pg_url), db=db,
                       carriers={"ngsp": PagedCarrier([bad, good])}, bell=ListBell())
    try:
        assert feeds.poll_carrier(rt) == 2
        with db.unit_of_work() as s:
            assert s.get_one(Cursor, feeds.CARRIER_CURSOR).value == good.event_id
            h = s.scalar(select(Handoff))
            assert h is not None and h.status == "picked_up"  # the good event was applied
            notes = [e.notes for e in s.scalars(select(StatusLogEntry))]
        assert any(n.startswith("không xử lý được event " + bad.event_id) for n in notes)
        with db.unit_of_work() as s:  # and the lease was given back
            assert leases.acquire(s, "poll:" + feeds.CARRIER_CURSOR, 5, holder="another")
    finally:
        db.dispose()


@pytest.mark.services
def test_a_chunk_losing_a_deadlock_on_postgresql_skips_no_event(pg_url):
    """A chunk locks its events' hand-offs at once, in id order (tracking.read_known), so
    two feeds' chunks wait on each other rather than deadlock. A chunk can still lose a
    deadlock to a transaction that locks the same hand-offs in the other order: here one
    holds the later hand-off, the chunk takes the first and waits, then it asks for the
    first. PostgreSQL aborts the chunk (its wait is the older: it looks first). The chunk
    is given up whole and read again, never committed with an event quarantined and its
    cursor past it."""
    upgrade(pg_url)
    db = Database(pg_url)
    orders = [f"000.00.17.H19-261126-000{n}/R1" for n in (1, 2)]
    with db.unit_of_work() as s:
        for n, order in enumerate(orders, 1):
            s.add(Handoff(dossier_code=f"000.00.17.H19-261126-000{n}", order_number=order,
                          direction="result_delivery", source_item_id=f"hof_{n}",
                          status="accepted", ready_at=datetime.now(UTC)))
    with db.unit_of_work() as s:
        first, later = sorted(s.scalars(select(Handoff.id)))
    page = [_event("0" * 23 + "1", orders[1], 1, Status.PICKED_UP),
            _event("0" * 23 + "2", orders[0], 1, Status.PICKED_UP)]
    carrier = PagedCarrier(page)
    rt = build_runtime(settings=Settings(database_url=pg_url), db=db,
                       carriers={"ngsp": carrier}, bell=ListBell())

    def locked(conn, handoff_id: int) -> None:
        conn.execute(select(Handoff.id).where(Handoff.id == handoff_id).with_for_update())

    def waiting(holder: int) -> int:  # sessions waiting on `holder` (other tests run beside)
        with db.engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"
            ), {"holder": holder}).scalar_one())

    try:
        with db.engine.connect() as other, ThreadPoolExecutor(1) as pool:
            with other.begin():
                other.execute(text("SET LOCAL deadlock_timeout = '30s'"))  # the chunk looks first
                holder = int(other.execute(text("SELECT pg_backend_pid()")).scalar_one())
                locked(other, later)
                polled = pool.submit(feeds.poll_carrier, rt)
                wait_for(lambda: waiting(holder), "the chunk to wait on the later hand-off",
                         timeout=10, every=0.02)
                locked(other, first)  # the cycle: granted once the chunk gives up
            assert polled.result(timeout=30) == 0  # the chunk was given up
        with db.unit_of_work() as s:
            assert s.get(Cursor, feeds.CARRIER_CURSOR) is None  # not moved past the page
            assert list(s.scalars(select(StatusLogEntry))) == []  # nothing quarantined
        carrier.__init__(page)  # the carrier shows the page again
        assert feeds.poll_carrier(rt) == 2  # read again, whole
        with db.unit_of_work() as s:
            assert s.get_one(Cursor, feeds.CARRIER_CURSOR).value == page[-1].event_id
            rows = s.execute(select(StatusLogEntry.order_number, StatusLogEntry.reason_code)
                             .where(StatusLogEntry.source == EventSource.CARRIER_FEED)).all()
        assert sorted(rows) == sorted((o, "forward") for o in orders)  # each event once
    finally:
        db.dispose()


@pytest.mark.services
def test_a_page_commits_in_chunks_and_a_failure_mid_page_keeps_cursor_and_events_agreeing(
        pg_url, monkeypatch):
    """A tracking page is applied a chunk per transaction (so a carrier push never waits on
    a whole page's row locks; the first chunk of a poll has CARRIER_CHUNK events). The
    database failing in the second chunk leaves the first chunk applied and the cursor on
    its last event, nothing of the rest; the next poll takes the rest from there, each
    event once."""
    upgrade(pg_url)
    db = Database(pg_url)
    size = feeds.CARRIER_CHUNK
    events = [_event(f"{n:024d}", f"000.00.17.H19-261126-{n:04d}/R1", 1, Status.PICKED_UP)
              for n in range(1, 2 * size + 21)]  # the first chunk: size; the fault in the next
    failing = events[size + 10].event_id
    apply = feeds.apply_event

    def apply_or_fail(session, ev, **kw):
        if ev.event_id == failing:
            raise exc.DisconnectionError("connection lost")
        return apply(session, ev, **kw)

    monkeypatch.setattr(feeds, "apply_event", apply_or_fail)
    carrier = PagedCarrier(events)
    rt = build_runtime(settings=Settings(database_url=pg_url), db=db,
                       carriers={"ngsp": carrier}, bell=ListBell())

    def logged() -> list[str]:
        with db.unit_of_work() as s:
            return sorted(s.scalars(select(StatusLogEntry.order_number).where(
                StatusLogEntry.source == EventSource.CARRIER_FEED)))

    def cursor() -> str:
        with db.unit_of_work() as s:
            return s.get_one(Cursor, feeds.CARRIER_CURSOR).value

    try:
        assert feeds.poll_carrier(rt) == size  # the first chunk only
        assert cursor() == events[size - 1].event_id
        assert logged() == sorted(ev.order_number for ev in events[:size])
        monkeypatch.setattr(feeds, "apply_event", apply)  # the database is back
        rest = events[size:]
        carrier.pages = [FeedPage(rest, rest[-1].event_id)]  # the carrier, from the cursor
        assert feeds.poll_carrier(rt) == len(rest)
        assert carrier.asked[1] == events[size - 1].event_id  # read on from the chunk's end
        assert cursor() == events[-1].event_id
        assert logged() == sorted(ev.order_number for ev in events)  # each once
    finally:
        db.dispose()
