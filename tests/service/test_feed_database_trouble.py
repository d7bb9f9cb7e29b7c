"""A tracking page whose applying meets the database failing (a deadlock with another
feed's page) is given up whole: no event quarantined, the cursor unmoved, and the next
poll applies every event of it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.service.world import World
from tests.support.db_failures import deadlock
from worker.db.models import Cursor, StatusLogEntry
from worker.domain.model import FeedPage, TrackingEvent
from worker.domain.statuses import Status
from worker.service.flow import feeds
from worker.service.flow.feeds import CARRIER_CURSOR, poll_carrier

AT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _event(n: int) -> TrackingEvent:
    return TrackingEvent(event_id=f"e{n}", order_number=f"000.00.17.H19-261126-000{n}/R1",
                         item_code=None, occurred_at=AT + timedelta(minutes=n), raw_code=1,
                         raw_text="mã 1", status=Status.PICKED_UP, known_code=True)


def test_a_deadlocked_page_is_read_again_whole_and_nothing_is_quarantined(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    page = [_event(1), _event(2), _event(3)]
    world.carrier.fetch_events = (  # type: ignore[method-assign]
        lambda last_id, page_size=1000: FeedPage(page, "e3") if last_id is None
        else FeedPage([], last_id))
    deadlocks = [_event(2).event_id]  # the second event loses a deadlock, once
    apply = feeds.apply_event

    def apply_or_deadlock(session, ev, **kw):  # type: ignore[no-untyped-def]
        if ev.event_id in deadlocks:
            deadlocks.remove(ev.event_id)
            raise deadlock()
        return apply(session, ev, **kw)

    monkeypatch.setattr(feeds, "apply_event", apply_or_deadlock)

    with caplog.at_level(logging.WARNING):
        assert poll_carrier(world.rt) == 0  # the page was not applied
    with world.rt.db.unit_of_work() as s:
        assert s.get(Cursor, CARRIER_CURSOR) is None  # not moved past the page
        assert list(s.scalars(select(StatusLogEntry))) == []  # nothing quarantined
    assert any(f"poll {CARRIER_CURSOR}: chunk not applied" in m for m in caplog.messages)

    assert poll_carrier(world.rt) == 3  # the next poll reads the page again, whole
    with world.rt.db.unit_of_work() as s:
        assert s.get_one(Cursor, CARRIER_CURSOR).value == "e3"
        rows = s.execute(select(StatusLogEntry.order_number, StatusLogEntry.reason_code)
                         .order_by(StatusLogEntry.id)).all()
    assert [(r.order_number, r.reason_code) for r in rows] == [
        (ev.order_number, "order_not_known") for ev in page]
