"""One bad feed entry never blocks a feed, on PostgreSQL (which enforces column sizes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.fakes import ListBell
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Cursor, Handoff, StatusLogEntry
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

    def post_order(self, order: CarrierOrder) -> PostOutcome:
        raise AssertionError("not used")

    def cancel_order(self, order_number: str) -> str:
        raise AssertionError("not used")

    def fetch_events(self, last_id: str | None, page_size: int = 1000) -> FeedPage:
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
