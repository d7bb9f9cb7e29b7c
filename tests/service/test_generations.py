"""A dossier requested again after its hand-off was cancelled gets a new generation, so a new
OrderNumber (.../R2): a new order at the carrier, the cancelled one left alone. An active
hand-off is not requested twice, and the same item delivered again is taken once."""

from __future__ import annotations

from tests.onestop_items import numbered
from tests.service.world import World
from worker.service.flow import desk


def test_a_dossier_requested_again_after_a_cancel_is_a_new_generation(world: World) -> None:
    code, first = world.requested(1)
    world.work()
    assert desk.cancel(world.rt, code, actor="lan").outcome == "cancel_requested"
    world.work()
    assert world.handoff(first).status == "cancelled"

    again = world.ingest(numbered(1, id="hof_t001_again"))
    assert again.outcome == "created" and again.handoff_id not in (None, first)
    assert again.handoff_id is not None
    second = world.handoff(again.handoff_id)
    assert (second.generation, second.order_number) == (2, f"{code}/R2")
    world.work()
    assert world.handoff(again.handoff_id).status == "accepted"
    assert world.carrier.posted_numbers() == [f"{code}/R1", f"{code}/R2"]
    assert world.carrier.orders[f"{code}/R1"].cancelled
    assert not world.carrier.orders[f"{code}/R2"].cancelled
    assert world.handoff(first).status == "cancelled"  # the old generation is history
    assert world.onestop.statuses(code) == ["accepted", "cancelled", "accepted"]


def test_an_active_handoff_is_not_requested_a_second_time(world: World) -> None:
    code, first = world.requested(1)
    world.work()
    again = world.ingest(numbered(1, id="hof_t001_again"))
    assert (again.outcome, again.handoff_id) == ("ignored", first)
    world.work()
    assert world.carrier.posted_numbers() == [f"{code}/R1"]


def test_the_same_item_delivered_again_is_taken_once(world: World) -> None:
    code, _ = world.requested(1)
    assert world.ingest(numbered(1)).outcome == "duplicate"
    world.work()
    assert world.carrier.posted_numbers() == [f"{code}/R1"]
