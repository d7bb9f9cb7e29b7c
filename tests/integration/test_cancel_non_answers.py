"""A cancel the carrier never answered is not a refusal: HTTP 403/404 or a rejected customer
key leaves the cancel dead for ops, the hand-off where it is and the one-stop untold; a
replay once the fault is gone cancels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.cancel_world import World, world_on
from worker.db.engine import Database
from worker.db.models import Job, StatusLogEntry
from worker.service.admin.replay import dead_letters, replay
from worker.service.flow import desk, desk_queue
from worker.service.flow.cancel import CARRIER_REFUSED, WITHDRAWAL_REFUSED


@pytest.fixture
def world(sqlite_db: Database, tmp_path: Path) -> Iterator[World]:
    with world_on(sqlite_db, tmp_path) as w:
        yield w


def _cancel_job(world: World) -> Job:
    with world.rt.db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.kind == "cancel_order")).one()
        s.expunge(job)
        return job


def _refusals(world: World, handoff_id: int) -> int:
    with world.rt.db.unit_of_work() as s:
        return len(list(s.scalars(select(StatusLogEntry.id).where(
            StatusLogEntry.handoff_id == handoff_id, StatusLogEntry.reason == CARRIER_REFUSED))))


def _not_refused_and_replayed(world: World, code: str, reason: str) -> None:
    """The cancel is dead with `reason`, nothing says refused anywhere; a replay once the
    fault is gone cancels at the carrier and tells the one-stop."""
    job = _cancel_job(world)
    assert job.state == "dead" and reason in job.last_error, job.last_error
    h = world.handoff(code)
    assert h.status == "accepted" and h.final_at is None
    assert _refusals(world, h.id) == 0
    pushes = world.pushes(code)
    assert [p["status"] for p in pushes] == ["accepted"]  # no "withdrawal refused"
    assert not any(p["note"].startswith(WITHDRAWAL_REFUSED) for p in pushes)
    with world.rt.db.unit_of_work() as s:
        assert [d.job_id for d in dead_letters(s)] == [job.id]  # ops sees it to replay
        (row,) = [o for o in desk_queue.ordered(s) if o.dossier_code == code]
    assert not row.cancel_refused and not row.cancelling

    world.gateway.cancel_status = world.gateway.token_status = None
    (outcome,) = replay(world.rt, [job.id], actor="ops")
    assert outcome.replayed, outcome.reason
    world.drain()
    assert world.handoff(code).status == "cancelled"
    assert world.pushes(code)[-1]["status"] == "cancelled"
    assert world.carrier_stats()["cancelled"] == 1


@pytest.mark.parametrize("status", [403, 404])
def test_a_withdrawal_answered_with_an_http_error_goes_dead_not_refused(
        world: World, status: int) -> None:
    (item,) = world.posted()
    world.gateway.cancel_status = status
    world.withdraw(item, 1)
    world.drain()
    assert world.gateway.cancels_asked() == 1
    _not_refused_and_replayed(world, item["dossierCode"], f"HTTP {status}")


def test_a_desk_cancel_whose_customer_key_is_rejected_goes_dead_not_refused(
        world: World) -> None:
    """The token expires and the key is refused when a new one is asked: a configuration
    fault, never the carrier's answer to the cancel."""
    (item,) = world.posted()
    code = item["dossierCode"]
    world.admin(world.carrier, "_admin/revoke-tokens", {})
    world.gateway.token_status = 401
    assert desk.cancel(world.rt, code, actor="lan").outcome == "cancel_requested"
    world.drain()
    _not_refused_and_replayed(world, code, "sai khóa khách hàng")
