"""Poison work: a row whose every try kills the process holding it (the OOM killer, a crash)
never settles a try, yet is dead after max_attempts tries (three here) like any row whose
tries ran out: the hand-off needs a person, the one-stop is told, and a replay brings it back.
A try that dies, then tries that settle, are counted as before."""

from __future__ import annotations

import pytest

from tests.service.world import World
from worker.domain.errors import TransientError
from worker.service.admin.replay import replay
from worker.service.jobs.runner import LOST_VI, run_job
from worker.service.ledger import EXHAUSTED_PREFIX


class ProcessKilled(BaseException):
    """The process dies mid-call: nothing after the call runs (run_job catches Exception)."""


def _dies_on_the_wire(world: World, post: int) -> None:
    """A worker takes the row, calls the carrier and dies there; then its lease runs out."""

    def killed() -> None:
        raise ProcessKilled

    world.carrier.while_posting = killed
    with pytest.raises(ProcessKilled):
        run_job(world.rt, post)
    world.clock.advance(world.rt.settings.lease_seconds + 1)


def test_a_row_whose_every_try_kills_its_process_is_dead_after_max_attempts(
        world: World) -> None:
    code, hid = world.requested()
    (post,) = world.bell.take()
    for _ in range(world.rt.settings.max_attempts):
        _dies_on_the_wire(world, post)
    world.sweep_and_work()  # the sweep rings the row again: its tries are used up

    job = world.job("post_order", hid)
    assert (job.state, job.attempts) == ("dead", 3)
    assert job.last_error == f"{EXHAUSTED_PREFIX} 3 lần thử: {LOST_VI}"
    assert world.carrier.calls == [("post", f"{code}/R1")] * 3  # never a fourth
    assert world.attempts(post) == [(3, "exhausted")]  # tries 1 and 2 left no row
    h = world.handoff(hid)
    assert (h.status, h.status_reason) == ("needs_attention", job.last_error)
    assert world.onestop.statuses(code) == ["needs_attention"]
    world.later(3600 * 24)  # dead stays dead
    assert len(world.carrier.calls) == 3

    (outcome,) = replay(world.rt, [post], actor="ops")  # the cause fixed: ops replay it
    assert outcome.replayed, outcome.reason
    revived = world.job("post_order", hid)
    assert (revived.state, revived.attempts) == ("pending", 0)
    world.work()
    assert (world.job("post_order", hid).state, world.handoff(hid).status) == ("done",
                                                                               "accepted")
    assert world.onestop.statuses(code) == ["needs_attention", "accepted"]


def test_a_row_is_not_taken_again_while_its_last_try_holds_the_lease(world: World) -> None:
    _, hid = world.requested()
    (post,) = world.bell.take()
    for _ in range(world.rt.settings.max_attempts):
        _dies_on_the_wire(world, post)
    world.clock.advance(-2)  # back to a second before the third try's lease runs out
    world.sweep_and_work()
    assert world.job("post_order", hid).state == "pending"
    world.later(2)
    assert world.job("post_order", hid).state == "dead"


def test_tries_that_settle_after_one_that_died_are_counted_as_before(world: World) -> None:
    code, hid = world.requested()
    (post,) = world.bell.take()
    _dies_on_the_wire(world, post)
    world.carrier.faults.fail_next("post", TransientError("HTTP 503"))
    world.sweep_and_work()  # try 2: answered 503, retried
    assert world.job("post_order", hid).state == "pending"
    world.later(3600)  # try 3, the last: accepted
    job = world.job("post_order", hid)
    assert (job.state, job.attempts) == ("done", 3)
    assert world.attempts(post) == [(2, "transient"), (3, "ok")]
    assert world.handoff(hid).status == "accepted"


def test_a_last_try_that_was_only_slow_still_settles_its_row(world: World) -> None:
    """Its lease ran out while it was on the wire, so the row was settled dead; its answer
    then comes back and still owns the row (the count was left as it was)."""
    code, hid = world.requested()
    (post,) = world.bell.take()
    for _ in range(world.rt.settings.max_attempts - 1):
        _dies_on_the_wire(world, post)

    def lease_runs_out_and_the_sweep_finds_it() -> None:
        world.clock.advance(world.rt.settings.lease_seconds + 1)
        world.sweep_and_work()
        assert world.job("post_order", hid).state == "dead"

    world.carrier.while_posting = lease_runs_out_and_the_sweep_finds_it
    world.sweep_and_work()  # try 3, slow: the carrier accepts it in the end
    assert world.job("post_order", hid).state == "done"
    assert world.handoff(hid).status == "accepted"
    assert world.attempts(post) == [(3, "exhausted"), (3, "ok")]
