"""A refused cancel is the carrier's answer at one moment: a new request (from the desk, or a
new withdrawal item) asks the carrier again; a retry of the same request does not, and a
second click while a cancel waits at the carrier joins it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cancel_world import World, world_on
from worker.db.engine import Database
from worker.service.flow import desk, handoffs
from worker.service.flow.cancel import WITHDRAWAL_REFUSED, request_cancel

BUSY = {"Status": 105, "Message": "Đơn đang được đối soát, vui lòng thử lại sau"}


@pytest.fixture
def world(sqlite_db: Database, tmp_path: Path) -> Iterator[World]:
    with world_on(sqlite_db, tmp_path) as w:
        yield w


def _told_refused(world: World, code: str) -> list[dict]:
    return [p for p in world.pushes(code) if p["note"].startswith(WITHDRAWAL_REFUSED)]


def test_a_desk_cancel_after_a_refusal_asks_the_carrier_again(world: World) -> None:
    (item,) = world.posted()
    code = item["dossierCode"]
    world.gateway.cancel_reply = BUSY
    first = desk.cancel(world.rt, code, actor="lan")
    double_click = desk.cancel(world.rt, code, actor="lan")  # before the carrier answered
    assert first.outcome == double_click.outcome == "cancel_requested"
    assert len(world.cancel_jobs(code)) == 1  # the second joined the first
    world.drain()
    assert world.gateway.cancels_asked() == 1
    assert world.handoff(code).status == "accepted"
    assert [state for state, _ in world.cancel_jobs(code)] == ["done"]

    world.gateway.cancel_reply = None  # the carrier's moment has passed
    again = desk.cancel(world.rt, code, actor="lan")
    assert (again.outcome, again.reason) == ("cancel_requested",
                                             "đã gửi yêu cầu hủy tới bưu điện")
    world.drain()
    assert world.gateway.cancels_asked() == 2
    assert world.handoff(code).status == "cancelled"
    assert world.carrier_stats()["cancelled"] == 1
    jobs = world.cancel_jobs(code)
    assert [state for state, _ in jobs] == ["done", "done"] and len({k for _, k in jobs}) == 2


def test_a_new_withdrawal_asks_again_and_the_same_one_redelivered_does_not(
        world: World) -> None:
    (item,) = world.posted()
    code = item["dossierCode"]
    world.gateway.cancel_reply = BUSY
    world.withdraw(item, 1)
    world.drain()
    assert world.handoff(code).status == "accepted"
    assert len(_told_refused(world, code)) == 1

    # the same withdrawal item taken again (a redelivery past the receipts): its refusal
    # stands, the carrier is not asked and the one-stop is not told twice
    h = world.handoff(code)
    with world.rt.db.unit_of_work() as s:
        result = request_cancel(s, handoffs.locked(s, h.id), "onestop", "rút yêu cầu",
                                withdrawal="hof_withdraw_1")
    assert not result.accepted
    world.drain()
    assert world.gateway.cancels_asked() == 1
    assert len(world.cancel_jobs(code)) == 1
    assert len(_told_refused(world, code)) == 1

    world.gateway.cancel_reply = None
    world.withdraw(item, 2)  # the citizen withdraws again: a new request
    world.drain()
    assert world.gateway.cancels_asked() == 2
    assert world.handoff(code).status == "cancelled"
    assert world.pushes(code)[-1]["status"] == "cancelled"
    assert len(_told_refused(world, code)) == 1
