"""A dead post replayed reuses its OrderNumber: when the carrier made the order but every
reply was lost, the replay is answered 101 (already exists) and no second order is made."""

from __future__ import annotations

from sqlalchemy import select

from tests.service.world import World
from worker.db.models import StatusLogEntry
from worker.domain.errors import TransientError
from worker.service.admin.replay import dead_letters, replay
from worker.service.flow import desk


def test_a_replayed_dead_post_reuses_its_order_number_and_makes_no_second_order(
        world: World) -> None:
    code, hid = world.requested()
    number = f"{code}/R1"
    world.carrier.faults.fail_next("post", TransientError("hết thời gian chờ trả lời"),
                                   times=3, lose_reply=True)
    world.work()
    world.later(3600)
    world.later(3600)
    assert world.job("post_order", hid).state == "dead"
    assert world.handoff(hid).status == "needs_attention"
    assert list(world.carrier.orders) == [number]  # the carrier has it; we never heard

    with world.rt.db.unit_of_work() as s:
        (letter,) = dead_letters(s)
    assert (letter.kind, letter.order_number) == ("post_order", number)
    (outcome,) = replay(world.rt, [letter.job_id], actor="ops")
    assert outcome.replayed, outcome.reason
    assert world.handoff(hid).status == "requested"
    world.work()

    assert world.handoff(hid).status == "accepted"
    assert world.carrier.posted_numbers() == [number] * 4
    assert world.carrier.created() == 1 and world.carrier.orders[number].posts == 4
    with world.rt.db.unit_of_work() as s:
        accepted = s.scalars(select(StatusLogEntry.raw_code).where(
            StatusLogEntry.handoff_id == hid, StatusLogEntry.status == "accepted")).all()
    assert accepted == ["101"]  # recognised as the order it already had
    assert world.onestop.statuses(code) == ["needs_attention", "accepted"]
    with world.rt.db.unit_of_work() as s:
        assert dead_letters(s) == []


def test_a_dead_post_of_a_cancelled_handoff_is_not_replayed(world: World) -> None:
    code, hid = world.requested()
    world.carrier.faults.fail_next("post", TransientError("HTTP 504"), times=3,
                                   lose_reply=True)
    world.work()
    world.later(3600)
    world.later(3600)
    assert desk.cancel(world.rt, code, actor="lan").outcome == "cancel_requested"
    world.work()
    assert world.handoff(hid).status == "cancelled"
    (outcome,) = replay(world.rt, [world.job("post_order", hid).id], actor="ops")
    assert not outcome.replayed and "kết thúc" in outcome.reason
    world.later(3600)
    assert world.carrier.posted_numbers() == [f"{code}/R1"] * 3
