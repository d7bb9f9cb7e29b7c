"""A cancel the carrier refuses (CancelRefused) is an answer: done, the hand-off where it is,
whoever asked told. Any other permanent failure (404, a rejected key) is no answer: dead for
ops, nobody told, and a replay once the fault is gone cancels."""

from __future__ import annotations

import pytest

from tests.onestop_items import changed, numbered
from tests.service.world import World
from worker.domain.errors import NotFound, PermanentError
from worker.service.admin.replay import dead_letters, replay
from worker.service.flow import desk
from worker.service.flow.cancel import CARRIER_REFUSED, WITHDRAWAL_REFUSED


def _accepted(world: World) -> tuple[str, int]:
    code, hid = world.requested()
    world.work()
    assert world.handoff(hid).status == "accepted"
    return code, hid


def _withdrawal(n: int, item_id: str) -> dict:
    """The one-stop's item withdrawing the n-th test dossier from the post."""
    return changed(numbered(n), id=item_id, type="handoff_cancelled", citizen=...)


def test_a_desk_cancel_the_carrier_refuses_is_done_and_leaves_the_handoff(
        world: World) -> None:
    code, hid = _accepted(world)
    world.carrier.refuse_cancels = True
    assert desk.cancel(world.rt, code, actor="lan").outcome == "cancel_requested"
    world.work()
    cancel = world.job("cancel_order", hid)
    assert cancel.state == "done" and world.attempts(cancel.id) == [(1, "ok")]
    h = world.handoff(hid)
    assert h.status == "accepted" and h.final_at is None
    assert world.log_reasons(hid).count(CARRIER_REFUSED) == 1
    with world.rt.db.unit_of_work() as s:
        assert dead_letters(s) == []  # an answer, nothing for ops to replay
    assert world.onestop.statuses(code) == ["accepted"]  # the desk asked, not the one-stop


def test_a_withdrawal_the_carrier_refuses_is_told_to_the_onestop(world: World) -> None:
    code, hid = _accepted(world)
    world.carrier.refuse_cancels = True
    assert world.ingest(_withdrawal(1, "hof_w1")).outcome == "cancelled"  # asked of the carrier
    world.work()
    assert world.handoff(hid).status == "accepted"
    told = world.onestop.pushes[-1]
    assert (told.status, told.note.startswith(WITHDRAWAL_REFUSED)) == ("withdrawal_refused", True)
    assert "Status 105" in told.note
    # an event, not a status: "accepted" was told once, never again with the refusal
    assert world.onestop.statuses(code) == ["accepted", "withdrawal_refused"]


def test_a_withdrawal_joining_while_the_carrier_is_asked_is_told_too(world: World) -> None:
    """A second withdrawal item arrives while the cancel asked for the first is on the wire:
    it joins that cancel, and the carrier's refusal answers both items, once each."""
    code, hid = _accepted(world)
    world.carrier.refuse_cancels = True
    world.carrier.while_cancelling = lambda: world.ingest(_withdrawal(1, "hof_w2"))
    assert world.ingest(_withdrawal(1, "hof_w1")).outcome == "cancelled"
    world.work()
    assert [op for op, _ in world.carrier.calls] == ["post", "cancel"]  # asked once
    refused = [p for p in world.onestop.pushes if p.status == "withdrawal_refused"]
    assert len(refused) == 2 and len({p.event_id for p in refused}) == 2
    assert world.onestop.statuses(code) == ["accepted", "withdrawal_refused",
                                            "withdrawal_refused"]
    assert world.handoff(hid).status == "accepted"


def test_a_new_cancel_after_a_refusal_asks_the_carrier_again(world: World) -> None:
    code, hid = _accepted(world)
    world.carrier.refuse_cancels = True
    desk.cancel(world.rt, code, actor="lan")
    world.work()
    world.carrier.refuse_cancels = False  # the moment has passed
    assert desk.cancel(world.rt, code, actor="lan").outcome == "cancel_requested"
    world.work()
    assert [op for op, _ in world.carrier.calls] == ["post", "cancel", "cancel"]
    assert [j.idempotency_key for j in world.jobs("cancel_order")] == [
        f"cancel:{code}/R1", f"cancel:{code}/R1:1"]
    assert world.handoff(hid).status == "cancelled"


@pytest.mark.parametrize("failure", [
    NotFound("HTTP 404: không tìm thấy", code="404"),
    PermanentError("HTTP 403: sai khóa khách hàng", code="403"),
], ids=["not-found", "key-rejected"])
def test_a_cancel_never_answered_is_dead_untold_and_a_replay_cancels(
        world: World, failure: PermanentError) -> None:
    code, hid = _accepted(world)
    world.carrier.faults.fail_next("cancel", failure)
    assert world.ingest(_withdrawal(1, "hof_w1")).outcome == "cancelled"
    world.work()
    cancel = world.job("cancel_order", hid)
    assert cancel.state == "dead" and world.attempts(cancel.id) == [(1, "permanent")]
    assert cancel.last_error == failure.reason
    assert world.handoff(hid).status == "accepted"
    assert CARRIER_REFUSED not in world.log_reasons(hid)
    assert world.onestop.statuses(code) == ["accepted"]  # no "withdrawal refused"
    with world.rt.db.unit_of_work() as s:
        assert [d.job_id for d in dead_letters(s)] == [cancel.id]

    (outcome,) = replay(world.rt, [cancel.id], actor="ops")
    assert outcome.replayed, outcome.reason
    world.work()
    assert world.handoff(hid).status == "cancelled"
    assert world.onestop.statuses(code) == ["accepted", "cancelled"]
    assert world.carrier.orders[f"{code}/R1"].cancelled
