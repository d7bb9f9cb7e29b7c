"""An item for an agency the deployment does not know, or has disabled, is kept and waits;
adding or enabling the agency takes it up again (posted after that commit, once)."""

from __future__ import annotations

from sqlalchemy import select

from tests.agencies import SENDER
from tests.onestop_items import numbered
from tests.service.world import World
from worker.db.models import Job, StatusLogEntry
from worker.service.admin import agency_admin
from worker.service.ledger import uow

NEW = "000.00.77.H19"


def _reasons(world: World, handoff_id: int) -> list[str | None]:
    with world.rt.db.unit_of_work() as s:
        return list(s.scalars(select(StatusLogEntry.reason_code).where(
            StatusLogEntry.handoff_id == handoff_id, StatusLogEntry.applied.is_(True))
            .order_by(StatusLogEntry.id)))


def _posts(world: World, handoff_id: int) -> list[tuple[str, str]]:
    with world.rt.db.unit_of_work() as s:
        return [(j.kind, j.state) for j in s.scalars(
            select(Job).where(Job.handoff_id == handoff_id, Job.kind == "post_order"))]


def test_an_unknown_agency_waits_and_goes_on_once_added(world: World) -> None:
    got = world.ingest(numbered(
        1, agency__code=NEW, agency__name="UBND xã Mới"))
    assert got.outcome == "created" and got.handoff_id is not None
    h = world.handoff(got.handoff_id)
    assert h.status == "needs_attention" and NEW in h.status_reason
    assert "chưa được khai báo" in h.status_reason
    assert _posts(world, h.id) == []  # no courier: only the push-back is queued
    world.work()
    assert world.carrier.posted_numbers() == []
    assert world.onestop.statuses(h.dossier_code) == ["needs_attention"]

    with uow.begin(world.rt) as s:
        saved = agency_admin.save(s, world.rt.settings, {
            "code": NEW, "name": "UBND xã Mới", **SENDER}, "ops", adding=True)
    assert saved.added and saved.taken_up == 1
    world.work()
    assert world.carrier.posted_numbers() == [h.order_number]
    assert world.handoff(h.id).status == "accepted"
    assert _reasons(world, h.id)[-3:] == ["agency_unknown", "agency_ready", "forward"]


def test_a_disabled_agency_holds_a_queued_post_until_enabled(world: World) -> None:
    with uow.begin(world.rt) as s:
        agency_admin.set_enabled(s, "000.00.17.H19", False, "ops")
    _, hid = world.requested(1)  # held at the door: no post queued
    assert world.handoff(hid).status == "needs_attention" and _posts(world, hid) == []
    with uow.begin(world.rt) as s:
        assert agency_admin.set_enabled(s, "000.00.17.H19", True, "ops").taken_up == 1
    world.work()
    assert world.carrier.posted_numbers() == [world.handoff(hid).order_number]
    _, other = world.requested(2)  # queued while enabled ...
    with uow.begin(world.rt) as s:  # ... then the agency stops before a worker runs it
        agency_admin.set_enabled(s, "000.00.17.H19", False, "ops")
    world.work()
    assert world.carrier.posted_numbers() == [world.handoff(hid).order_number]
    assert world.handoff(other).status == "needs_attention"
    assert _posts(world, other) == [("post_order", "dead")]  # kept, revivable
    with uow.begin(world.rt) as s:
        taken = agency_admin.set_enabled(s, "000.00.17.H19", True, "ops").taken_up
    assert taken == 1
    world.work()
    assert world.handoff(other).status == "accepted"
    assert world.carrier.posted_numbers().count(world.handoff(other).order_number) == 1
