"""A post on the wire: a cancel waits for it, the sweep leaves it alone, and an attempt whose
lease ran out (another attempt ran meanwhile) records only its own try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.service.world import World
from worker.domain.errors import HandoffError, PermanentError, TransientError
from worker.domain.statuses import Status
from worker.service.flow import desk
from worker.service.flow.desk import DeskOutcome
from worker.service.jobs.runner import run_job


def test_a_cancel_waits_while_the_post_is_on_the_wire(world: World) -> None:
    code, hid = world.requested()
    asked: list[DeskOutcome] = []

    def clerk_cancels_mid_post() -> None:
        asked.append(desk.cancel(world.rt, code, actor="lan"))
        world.work()  # a worker takes the cancel's ring at once: it must not go out yet

    world.carrier.while_posting = clerk_cancels_mid_post
    world.work()
    assert [a.outcome for a in asked] == ["cancel_requested"]  # the post may reach the carrier
    cancel = world.job("cancel_order", hid)
    assert cancel.state == "pending" and cancel.attempts == 0
    assert world.carrier.calls == [("post", f"{code}/R1")]
    assert world.handoff(hid).status == "accepted"

    world.later(1)  # the post has settled: the cancel goes out, after it
    assert world.carrier.calls == [("post", f"{code}/R1"), ("cancel", f"{code}/R1")]
    assert world.carrier.orders[f"{code}/R1"].cancelled
    assert world.handoff(hid).status == "cancelled"
    assert world.onestop.statuses(code) == ["accepted", "cancelled"]


def test_a_cancel_before_the_post_ran_stops_it_and_never_asks_the_carrier(
        world: World) -> None:
    code, hid = world.requested()
    assert desk.cancel(world.rt, code, actor="lan").outcome == "cancelled"
    world.work()  # the post's ring arrives after the cancel
    assert world.carrier.calls == []
    assert world.jobs("cancel_order") == []
    assert world.job("post_order", hid).state == "done"  # stopped, never sent
    assert world.onestop.statuses(code) == ["cancelled"]


def test_the_sweep_does_not_ring_a_post_on_the_wire(world: World) -> None:
    world.requested()
    swept: list[int] = []
    world.carrier.while_posting = lambda: swept.append(world.sweep())
    world.work()
    assert swept == [0]


def _stale_first_attempt(world: World, failure: HandoffError) -> tuple[int, int]:
    """Attempt 1 posts; while it is on the wire its lease runs out and attempt 2 posts and
    settles; then attempt 1 comes back with `failure`. (hand-off id, post id)"""
    _, hid = world.requested()
    (post,) = world.bell.take()

    def lease_runs_out_and_another_worker_posts() -> None:
        world.clock.advance(world.rt.settings.lease_seconds + 1)
        run_job(world.rt, post)
        world.carrier.faults.fail_next("post", failure)  # what attempt 1 then hears

    world.carrier.while_posting = lease_runs_out_and_another_worker_posts
    run_job(world.rt, post)
    world.work()
    return hid, post


def test_a_stale_attempt_failing_transiently_records_only_its_try(world: World) -> None:
    hid, post = _stale_first_attempt(world, TransientError("hết thời gian chờ"))
    job = world.job("post_order", hid)
    assert job.state == "done" and job.attempts == 2 and job.last_error == ""
    assert world.attempts(post) == [(2, "ok"), (1, "transient")]
    assert world.handoff(hid).status == "accepted"
    assert world.carrier.created() == 1


def test_a_stale_attempt_failing_for_good_leaves_the_newer_outcome(world: World) -> None:
    hid, post = _stale_first_attempt(world, PermanentError("Bưu điện từ chối đơn", code="102"))
    job = world.job("post_order", hid)
    assert job.state == "done" and job.attempts == 2
    assert world.attempts(post) == [(2, "ok"), (1, "permanent")]
    assert world.handoff(hid).status == "accepted"


def test_an_order_the_feed_moves_on_before_its_answer_is_settled_is_still_accepted(
        world: World) -> None:
    """The courier is quick: the carrier's feed brings the pick-up while the post's answer
    is still on its way to be settled. The hand-off stays picked up, and the order counts
    as accepted (the agency's account cannot be changed under it)."""
    code, hid = world.requested()
    order = f"{code}/R1"
    world.carrier.while_posting = lambda: world.carrier_event(
        order, 1, Status.PICKED_UP, datetime.now(UTC) + timedelta(minutes=5))
    world.work()
    h = world.handoff(hid)
    assert h.status == "picked_up"
    assert h.accepted_at is not None
    assert world.log_reasons(hid)[-1] == "late event (accepted after picked_up)"
    assert world.onestop.statuses(code) == ["picked_up"]


def test_an_order_the_carrier_reports_on_counts_as_accepted_without_a_post_answer(
        world: World) -> None:
    """No answer of the post was settled (its reply lost, its tries run out, say), and the
    carrier's feed brings the pick-up: the order is on its way, accepted at the carrier's
    time."""
    code, hid = world.requested()
    picked = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    world.carrier_event(f"{code}/R1", 1, Status.PICKED_UP, picked)
    h = world.handoff(hid)
    assert (h.status, h.accepted_at) == ("picked_up", picked)
