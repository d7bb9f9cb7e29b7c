"""The runner's last guards: a post whose hand-off is already over never reaches the carrier,
and a row of a kind no handler knows is dead for a person to look at, not a crashed worker."""

from __future__ import annotations

from sqlalchemy import select

from tests.service.world import World
from worker.db.models import Handoff, Job
from worker.service.jobs.runner import run_job


def _queued_post(world: World) -> tuple[int, int]:
    """A requested hand-off whose post was rung and taken by a worker: (hand-off, post)."""
    _, hid = world.requested()
    (post,) = world.bell.take()
    return hid, post


def test_a_post_for_a_cancelled_handoff_never_reaches_the_carrier(world: World) -> None:
    hid, post = _queued_post(world)
    # Every cancel path stops a waiting post itself, so this is the runner's guard for a
    # post that escaped them (e.g. revived by hand): the hand-off is set over directly.
    with world.rt.db.unit_of_work() as s:
        s.get_one(Handoff, hid).status = "cancelled"
    run_job(world.rt, post)
    assert world.carrier.calls == [] and world.bell.take() == []
    assert (world.job("post_order", hid).state, world.handoff(hid).status) == ("done",
                                                                               "cancelled")
    with world.rt.db.unit_of_work() as s:
        assert list(s.scalars(select(Job.kind).where(Job.state == "pending"))) == []


def test_a_job_of_a_kind_no_handler_knows_is_dead_not_a_crash(world: World) -> None:
    _, post = _queued_post(world)
    with world.rt.db.unit_of_work() as s:  # written by a newer version, or by hand
        s.get_one(Job, post).kind = "fax_order"
    run_job(world.rt, post)
    job = world.job("fax_order")
    assert (job.state, job.last_error) == ("dead", "unknown job kind 'fax_order'")
    assert world.carrier.calls == []
