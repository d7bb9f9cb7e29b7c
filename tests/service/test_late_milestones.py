"""Every milestone the carrier reports reaches the one-stop once (contract section 3): one the
hand-off is already past (the feed bringing a failed pick-up after the push said delivered)
is told with `late` and moves no status; a copy, or a status told already, is not told
again; a refused withdrawal is one `withdrawal_refused` event, never the status again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.onestop_items import changed, numbered
from tests.service.world import World
from worker.domain.enums import EventSource
from worker.domain.model import TrackingEvent
from worker.domain.statuses import Status
from worker.service.flow import feeds, handoffs, tracking
from worker.service.flow.cancel import WITHDRAWAL_REFUSED, request_cancel
from worker.service.ledger import uow

# after the carrier's acceptance (told at the real clock's time): carrier times come later
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)


def _push(world: World, order: str, code: int, status: Status, at: datetime) -> None:
    """One event as the carrier's status push brings it."""
    ev = TrackingEvent(event_id=f"push{code}-{at:%H%M%S}", order_number=order,
                       item_code="EB123456785VN", occurred_at=at, raw_code=code,
                       raw_text=f"mã đẩy {code}", status=status, known_code=True)
    with uow.begin(world.rt) as s:
        tracking.apply_event(s, ev, EventSource.CARRIER_PUSH)


def _delivered_by_push(world: World) -> tuple[str, str, int]:
    code, hid = world.requested()
    world.work()
    order = f"{code}/R1"
    _push(world, order, 1, Status.PICKED_UP, T0 + timedelta(minutes=5))
    _push(world, order, 5, Status.DELIVERED, T0 + timedelta(minutes=30))
    world.work()
    return code, order, hid


def _told(world: World, code: str) -> list[tuple[str, bool]]:
    return [(str(p.status), p.late) for p in world.onestop.pushes if p.dossier_code == code]


def test_a_failed_pickup_the_feed_brings_after_delivery_is_told_once_marked_late(
        world: World) -> None:
    code, order, hid = _delivered_by_push(world)
    failed_at = T0 + timedelta(minutes=2)  # before the courier came back and took it
    world.carrier_event(order, 13, Status.PICKUP_FAILED, failed_at)
    world.carrier_event(order, 13, Status.PICKUP_FAILED, failed_at)  # the feed again
    world.work()
    assert _told(world, code) == [("accepted", False), ("picked_up", False),
                                  ("delivered", False), ("pickup_failed", True)]
    late = world.onestop.pushes[-1]
    assert late.occurred_at == failed_at  # at its own time, not when it arrived
    h = world.handoff(hid)
    assert (h.status, h.final_at) == ("delivered", T0 + timedelta(minutes=30))


def test_each_failed_attempt_is_its_own_late_milestone(world: World) -> None:
    code, order, _ = _delivered_by_push(world)
    world.carrier_event(order, 13, Status.PICKUP_FAILED, T0 + timedelta(minutes=1))
    world.carrier_event(order, 14, Status.PICKUP_FAILED, T0 + timedelta(minutes=3))
    world.work()
    assert _told(world, code)[-2:] == [("pickup_failed", True), ("pickup_failed", True)]


def test_a_status_told_already_is_not_told_again_late(world: World) -> None:
    """The feed's copy of picked_up carries another second than the push's: not the same
    milestone by key, but picked_up was told, and a status is never told twice."""
    code, order, _ = _delivered_by_push(world)
    world.carrier_event(order, 1, Status.PICKED_UP, T0 + timedelta(minutes=5, seconds=2))
    world.carrier_event(order, 3, Status.IN_TRANSIT, T0 + timedelta(minutes=10))  # never told
    world.work()
    assert _told(world, code) == [("accepted", False), ("picked_up", False),
                                  ("delivered", False), ("in_transit", True)]


def test_a_milestone_after_the_newest_told_status_is_a_conflict_not_late(world: World) -> None:
    """The carrier says picked up after we told "delivered": not older than what was told,
    so not late either; logged for ops, never told (it would move the one-stop back)."""
    code, order, hid = _delivered_by_push(world)
    world.carrier_event(order, 3, Status.IN_TRANSIT, T0 + timedelta(hours=2))
    world.work()
    assert [s for s, _ in _told(world, code)] == ["accepted", "picked_up", "delivered"]
    assert world.handoff(hid).status == "delivered"


def test_a_withdrawal_after_pickup_is_one_withdrawal_refused_event(world: World) -> None:
    code, hid = world.requested()
    world.work()
    _push(world, f"{code}/R1", 1, Status.PICKED_UP, T0)
    withdrawal = changed(numbered(1), id="hof_w9", type="handoff_cancelled", citizen=...)
    assert world.ingest(withdrawal).outcome == "ignored"
    with uow.begin(world.rt) as s:  # the same item again, past the receipts: still one event
        request_cancel(s, handoffs.locked(s, hid), EventSource.ONESTOP_FEED, "rút",
                       withdrawal="hof_w9")
    world.work()
    assert _told(world, code) == [("accepted", False), ("picked_up", False),
                                  ("withdrawal_refused", False)]
    assert world.onestop.pushes[-1].note.startswith(WITHDRAWAL_REFUSED)
    assert world.handoff(hid).status == "picked_up"  # the postal status stays


def test_a_chunk_of_the_feed_tells_late_milestones_as_one_event_at_a_time_does(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A chunk reads the statuses told once for its hand-offs and adds each push it queues
    (tracking.Known.told): what it tells late, and does not, is what one event at a time
    tells, the statuses queued earlier in the same chunk included."""
    def events(order: str) -> list[TrackingEvent]:
        return [TrackingEvent(event_id=f"{order}-{n}", order_number=order,
                              item_code="EB123456785VN", occurred_at=T0 + timedelta(minutes=m),
                              raw_code=code, raw_text=f"mã {code}", status=status,
                              known_code=True)
                for n, (code, status, m) in enumerate([
                    (1, Status.PICKED_UP, 5), (5, Status.DELIVERED, 30),
                    (13, Status.PICKUP_FAILED, 2),  # before delivered, told in this chunk
                    (13, Status.PICKUP_FAILED, 3),  # another attempt: its own
                    (1, Status.PICKED_UP, 6),  # told already, in this chunk
                    (2, Status.IN_TRANSIT, 40)])]  # after the newest told: a conflict

    told = []
    for n in (1, 2):
        code, _ = world.requested(n)
        world.work()
        order = f"{code}/R1"
        if n == 1:
            with uow.begin(world.rt) as s:
                feeds.apply_chunk(s, events(order))
        else:
            for ev in events(order):
                with uow.begin(world.rt) as s:
                    tracking.apply_event(s, ev)
        world.work()
        told.append(_told(world, code))
    assert "taken again" not in caplog.text  # decided by the chunk, not one by one
    assert told[0] == told[1] == [("accepted", False), ("picked_up", False),
                                  ("delivered", False), ("pickup_failed", True),
                                  ("pickup_failed", True)]
