"""A cancel the carrier refuses is not a cancel: against both simulators on loopback, with
the service functions a worker runs (feed polls and ledger jobs) called in turn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.integration.cancel_world import HOUR, World, world_on
from worker.db.engine import Database
from worker.db.models import Job, StatusLogEntry, utcnow
from worker.service.flow import desk, desk_queue, feeds
from worker.service.flow.cancel import WITHDRAWAL_REFUSED
from worker.service.jobs.runner import run_job


@pytest.fixture
def world(sqlite_db: Database, tmp_path: Path) -> Iterator[World]:
    with world_on(sqlite_db, tmp_path) as w:
        yield w


def test_a_withdrawal_refused_by_the_carrier_leaves_tracking_going(world: World) -> None:
    """The courier takes the item (code 1) before our feed read; the one-stop's withdrawal
    arrives in between; the carrier refuses the cancel. Nothing says cancelled anywhere."""
    (item,) = world.posted()
    code = item["dossierCode"]
    # the contract names no refusal Status: this carrier happens to answer 105, the code
    # once read here as "no such order" (and so as cancelled)
    world.admin(world.carrier, "_admin/faults", {"cancel_refused_status": 105})
    world.admin(world.carrier, "_admin/advance", {"seconds": 2 * HOUR})  # code 1 at carrier
    world.withdraw(item, 1)  # released before the feed is read: we still think "accepted"
    assert world.handoff(code).status == "accepted"
    # the refusal push's reply is lost once: its retry must carry the same eventId
    world.admin(world.onestop, "_admin/faults", {"lose_push_reply_rate": 1.0})
    with world.rt.db.unit_of_work() as s:
        cancel_id = s.scalar(select(Job.id).where(Job.kind == "cancel_order"))
    run_job(world.rt, cancel_id)
    with world.rt.db.unit_of_work() as s:
        push_id = s.scalar(select(Job.id).where(Job.kind == "push_status",
                                                Job.state == "pending"))
    run_job(world.rt, push_id)  # recorded at the one-stop, its answer lost: retried later
    world.admin(world.onestop, "_admin/faults", {"lose_push_reply_rate": 0.0})
    with world.rt.db.unit_of_work() as s:
        s.execute(update(Job).where(Job.id == push_id).values(next_attempt_at=utcnow()))
    world.drain()

    h = world.handoff(code)
    assert h.status == "accepted" and h.final_at is None
    with world.rt.db.unit_of_work() as s:
        refusal = s.scalars(select(StatusLogEntry).where(
            StatusLogEntry.handoff_id == h.id,
            StatusLogEntry.reason == "cancel refused by the carrier")).one()
    assert refusal.raw_code == "105" and "Bưu tá đã nhận hàng" in refusal.raw_text
    pushes = world.pushes(code)
    told = [p for p in pushes if p["note"].startswith(WITHDRAWAL_REFUSED)]
    assert len(told) == 1 and told[0]["status"] == "withdrawal_refused"
    assert [p["status"] for p in pushes].count("accepted") == 1  # never the status again
    assert "cancelled" not in {p["status"] for p in pushes}
    assert world.admin(world.onestop, "_admin/stats")["duplicate_deliveries"] == 1

    world.admin(world.carrier, "_admin/advance", {"seconds": 24 * HOUR})
    feeds.poll_carrier(world.rt)
    world.drain()
    assert world.handoff(code).status == "delivered"
    statuses = [p["status"] for p in world.pushes(code)]
    assert {"picked_up", "in_transit", "delivered"} <= set(statuses)
    assert "cancelled" not in statuses
    assert world.admin(world.carrier, "_admin/stats")["cancelled"] == 0


def test_a_withdrawal_after_the_feed_said_picked_up_is_refused_here_and_told(
        world: World) -> None:
    (item,) = world.posted()
    world.admin(world.carrier, "_admin/advance", {"seconds": 2 * HOUR})
    feeds.poll_carrier(world.rt)
    world.drain()
    assert world.handoff(item["dossierCode"]).status == "picked_up"
    world.withdraw(item, 2)
    world.withdraw(item, 2)  # the same item served twice: told once
    world.drain()
    told = [p for p in world.pushes(item["dossierCode"])
            if p["note"].startswith(WITHDRAWAL_REFUSED)]
    assert [(p["status"], p["note"].split(": ", 1)[1]) for p in told] == [
        ("withdrawal_refused", "bưu tá đã nhận hồ sơ, không thể hủy")]
    assert [p["status"] for p in world.pushes(item["dossierCode"])].count("picked_up") == 1
    with world.rt.db.unit_of_work() as s:  # nothing was asked of the carrier
        assert s.scalar(select(Job.id).where(Job.kind == "cancel_order")) is None


def test_a_withdrawal_before_pickup_still_cancels(world: World) -> None:
    (item,) = world.posted()
    world.withdraw(item, 3)
    world.drain()
    assert world.handoff(item["dossierCode"]).status == "cancelled"
    statuses = [p["status"] for p in world.pushes(item["dossierCode"])]
    assert statuses[-1] == "cancelled"
    assert not any(p["note"].startswith(WITHDRAWAL_REFUSED)
                   for p in world.pushes(item["dossierCode"]))
    assert world.admin(world.carrier, "_admin/stats")["cancelled"] == 1


def test_a_desk_cancel_refused_by_the_carrier_is_shown_on_the_desk_not_pushed(
        world: World) -> None:
    (item,) = world.posted()
    code = item["dossierCode"]
    world.admin(world.carrier, "_admin/advance", {"seconds": 2 * HOUR})
    outcome = desk.cancel(world.rt, code, actor="lan")
    assert outcome.outcome == "cancel_requested"
    before = len(world.pushes(code))
    world.drain()
    assert world.handoff(code).status == "accepted"
    assert len(world.pushes(code)) == before  # the one-stop asked nothing: its view is true
    with world.rt.db.unit_of_work() as s:
        (row,) = [o for o in desk_queue.ordered(s) if o.dossier_code == code]
    assert row.cancel_refused and not row.cancelling
    # the clerk tries again: a new request, so the carrier is asked again (and refuses)
    assert desk.cancel(world.rt, code, actor="lan").outcome == "cancel_requested"
    world.drain()
    assert world.gateway.cancels_asked() == 2
    assert world.handoff(code).status == "accepted"
    assert len(world.pushes(code)) == before


def test_a_refused_cancel_of_an_order_never_confirmed_asks_a_person(world: World) -> None:
    """The post's replies were lost (it may or may not exist at the carrier), the citizen
    withdraws, the carrier refuses the cancel: nobody knows, so it needs attention."""
    items = world.admin(world.onestop, "_admin/handoffs", {"count": 1, "type": "result_ready"})
    code = items["items"][0]["dossierCode"]
    world.admin(world.carrier, "_admin/faults", {"fail_next": 3})  # the client's 3 tries
    feeds.poll_onestop(world.rt)
    world.drain()  # the post failed for now and waits for its retry
    assert world.handoff(code).status == "requested"
    world.withdraw(items["items"][0], 4)
    world.drain()
    h = world.handoff(code)
    assert h.status == "needs_attention" and "cần kiểm tra với bưu điện" in h.status_reason
    pushes = world.pushes(code)
    assert [p["status"] for p in pushes] == ["needs_attention", "withdrawal_refused"]
    assert pushes[1]["note"].startswith(WITHDRAWAL_REFUSED)
    assert world.admin(world.carrier, "_admin/stats")["orders"] == 0  # and no post later
