"""Ringing: the unit of work rings a new row only after its transaction commits (a rolled
back one rings nothing); a ring that was lost is rung again by the sweep once the row has
gone `redispatch_after` without running, and not before."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from integrations.onestop.mapping import read_item
from tests.onestop_items import numbered
from tests.service.world import World
from worker.db.models import Handoff, Job
from worker.domain.enums import JobKind
from worker.service import ledger
from worker.service.flow.ingest import ingest_item
from worker.service.jobs.runner import run_job
from worker.service.ledger import uow


def test_a_lost_ring_is_rung_again_by_the_sweep_after_redispatch_after(world: World) -> None:
    _, hid = world.requested()
    (post,) = world.bell.take()  # this ring never reaches a worker
    assert world.sweep() == 0  # marked rung as it was made: not again yet
    world.clock.advance(world.rt.settings.redispatch_after + 5)
    assert world.sweep() == 1
    assert world.bell.take() == [post]  # ... and lost again
    assert world.sweep() == 0  # rung just now: not again yet
    world.clock.advance(world.rt.settings.redispatch_after - 5)
    assert world.sweep() == 0
    world.clock.advance(10)
    assert world.sweep() == 1
    assert world.bell.take() == [post]
    run_job(world.rt, post)
    assert world.handoff(hid).status == "accepted"


def test_the_sweep_rings_each_due_row_once_oldest_first(world: World) -> None:
    world.requested(1)
    world.requested(2)
    posts = world.bell.take()  # both rings lost
    world.clock.advance(world.rt.settings.redispatch_after + 1)
    assert world.sweep() == 2 and world.bell.take() == posts
    world.work()
    world.later(3600)  # done rows are never rung again
    assert world.bell.take() == [] and len(world.carrier.calls) == 2


def test_an_item_is_rung_only_once_its_transaction_committed(world: World) -> None:
    # the world's bell fails any ring of a row another connection cannot read yet
    with uow.begin(world.rt) as s:
        got = ingest_item(s, read_item(numbered(1)), "onestop-feed", world.rt.settings)
        assert world.bell.rung == []  # not while the transaction is open
    assert world.bell.take() == [j.id for j in got.jobs] == [world.job("post_order").id]


def test_a_rolled_back_ingest_rings_nothing_and_leaves_nothing(world: World) -> None:
    with pytest.raises(RuntimeError), uow.begin(world.rt) as s:
        assert ingest_item(s, read_item(numbered(1)), "onestop-feed", world.rt.settings).jobs
        raise RuntimeError("the page failed after the item was taken")
    assert world.bell.rung == []
    with world.rt.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Handoff)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_a_push_created_by_a_settle_is_rung_after_the_settle_committed(world: World) -> None:
    world.requested()
    (post,) = world.bell.take()
    run_job(world.rt, post)
    assert world.bell.take() == [world.job("push_status").id]


def test_the_bell_of_these_tests_catches_a_ring_before_commit(world: World) -> None:
    """The check the other tests rely on can fail."""
    _, hid = world.requested()
    world.bell.take()
    with pytest.raises(AssertionError, match="rung before commit"), \
            world.rt.db.unit_of_work() as s:
        job = ledger.enqueue(s, JobKind.PUSH_STATUS, hid, "push:early")
        assert job is not None
        s.flush()
        world.bell.ring([job.id])
