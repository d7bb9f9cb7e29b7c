"""Push-backs of one hand-off reach the one-stop in the order they were applied: a later
push is not taken while an earlier one of the same hand-off is still pending (it waits a
second), and goes as soon as the earlier one is answered, not on the sweep's next round
(rung by a row's own task; taken by the settle of a message's rows, together.py); a dead
earlier push holds nothing back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.service.world import World
from worker.db.models import utcnow
from worker.domain.errors import PermanentError, TransientError
from worker.domain.statuses import Status
from worker.service import ledger
from worker.service.flow import handoffs
from worker.service.jobs import inflight, shared, together
from worker.service.jobs.base import Step
from worker.service.jobs.runner import perform, run_job, take
from worker.service.jobs.together import run_jobs

PICKED_AT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _accepted_then_picked_up(world: World, n: int = 1) -> tuple[str, int, int, int]:
    """A hand-off (the `n`th dossier) posted and picked up, neither push run yet: (code,
    hand-off, accepted push id, picked-up push id)."""
    code, hid = world.requested(n)
    (post,) = world.bell.take()
    run_job(world.rt, post)
    (accepted,) = world.bell.take()
    world.carrier_event(f"{code}/R1", 1, Status.PICKED_UP, PICKED_AT)
    (picked,) = world.bell.take()
    return code, hid, accepted, picked


def test_a_later_push_rung_first_waits_for_the_earlier_one(world: World) -> None:
    code, _, accepted, picked = _accepted_then_picked_up(world)
    before = utcnow()
    run_job(world.rt, picked)  # two workers took the rings in the wrong order
    assert world.onestop.pushes == []
    waiting = world.jobs("push_status")[1]
    assert waiting.id == picked and waiting.state == "pending"
    assert waiting.attempts == 0 and world.attempts(picked) == []  # a wait is not a try
    assert waiting.next_attempt_at > before and waiting.rung_at is None

    run_job(world.rt, accepted)
    assert world.bell.take() == [picked]  # answered: the next one is rung at once, due now
    run_job(world.rt, picked)
    assert world.onestop.statuses(code) == ["accepted", "picked_up"]
    assert [j.state for j in world.jobs("push_status")] == ["done", "done"]


def test_a_push_waiting_for_its_retry_holds_back_the_later_ones(world: World) -> None:
    code, _, accepted, picked = _accepted_then_picked_up(world)
    world.onestop.faults.fail_next("push", TransientError("HTTP 503"))
    run_job(world.rt, accepted)  # fails, waits for its backoff
    run_job(world.rt, picked)
    assert world.onestop.pushes == []
    assert world.bell.take() == []  # a retry is not an answer: the later one still waits
    for _ in range(3):  # the later push is rung first (due first) and still waits its turn
        world.later(60)
    assert world.onestop.statuses(code) == ["accepted", "picked_up"]
    assert world.attempts(accepted) == [(1, "transient"), (2, "ok")]
    assert world.attempts(picked) == [(1, "ok")]


def test_a_dead_earlier_push_does_not_hold_back_the_later_ones(world: World) -> None:
    code, _, accepted, picked = _accepted_then_picked_up(world)
    world.onestop.faults.fail_next("push", PermanentError("HTTP 422: trạng thái không hợp lệ"))
    run_job(world.rt, accepted)
    assert world.bell.take() == [picked]  # the dead one is settled: the next goes now
    run_job(world.rt, picked)
    assert world.onestop.statuses(code) == ["picked_up"]
    assert [j.state for j in world.jobs("push_status")] == ["dead", "done"]


def test_two_pushes_of_one_hand_off_in_one_message_go_in_order(world: World) -> None:
    """Claimed together (worker/service/jobs/together.py), the later one sees the earlier
    one claimed in the same transaction and waits; the settle of the earlier one's answer
    takes it at once (together.settle_and_go_on), rung through no message."""
    code, _, accepted, picked = _accepted_then_picked_up(world)
    run_jobs(world.rt, [picked, accepted])  # rung in the wrong order, in one message
    assert together.settled()  # the calls' answers settled, the one taken next too
    assert world.onestop.statuses(code) == ["accepted", "picked_up"]
    assert world.bell.take() == []
    assert world.attempts(accepted) == [(1, "ok")]
    assert world.attempts(picked) == [(1, "ok")]


def test_the_pushes_of_many_hand_offs_in_one_message_go_in_order(world: World) -> None:
    """A message of several hand-offs' pushes, rung in the wrong order: their pending rows
    are read once for the whole message (ledger.read_pending_ahead), and still each later
    push waits for its hand-off's earlier one, and goes as soon as it is answered."""
    handoffs = [_accepted_then_picked_up(world, n) for n in (1, 2, 3)]
    message = [i for _, _, accepted, picked in handoffs for i in (picked, accepted)]
    run_jobs(world.rt, message)
    assert together.settled()
    assert world.bell.take() == []
    for code, _, accepted, picked in handoffs:
        assert world.onestop.statuses(code) == ["accepted", "picked_up"]
        assert world.attempts(accepted) == [(1, "ok")]
        assert world.attempts(picked) == [(1, "ok")]


def test_a_post_s_accepted_push_back_is_rung_not_taken_by_its_settle(world: World) -> None:
    """Only a hand-off's next push-back, its turn come, is taken by the settle: the first
    one a post's answer queues is rung, as before (taken at once it cost the orders their
    pace where the CPU, not the quota, is the limit)."""
    codes = [world.requested(n)[0] for n in (1, 2)]
    run_jobs(world.rt, world.bell.take())  # a message of two posts
    assert together.settled()
    assert all(world.onestop.statuses(c) == [] for c in codes)
    assert len(world.bell.take()) == 2


def test_with_a_row_a_task_the_next_push_back_is_rung(world: World) -> None:
    """The naive design (`HANDOFF_JOB_BATCH=1`) stays a row a task: the next push-back is
    rung, not taken by the settle."""
    world.rt.settings = world.rt.settings.model_copy(update={"job_batch": 1})
    code, _, accepted, picked = _accepted_then_picked_up(world)
    _settle_directly(world, [accepted])
    assert world.onestop.statuses(code) == ["accepted"]
    assert world.bell.take() == [picked]


def test_a_failure_taking_the_next_push_back_leaves_the_answers_settled_and_rung(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should claiming the next push-backs fail, the answers are settled again one
    transaction each, as before, and the next push-backs rung: nothing the settle takes
    besides can keep an answer unsettled."""
    made = [_accepted_then_picked_up(world, n) for n in (1, 2)]

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in the claim")

    monkeypatch.setattr(shared, "claim_many", broken)
    _settle_directly(world, [accepted for _, _, accepted, _ in made])
    for code, _, accepted, _ in made:
        assert world.onestop.statuses(code) == ["accepted"]
        assert world.attempts(accepted) == [(1, "ok")]
    assert sorted(world.bell.take()) == sorted(picked for _, _, _, picked in made)


def test_a_hand_off_s_statuses_follow_one_another_through_the_settles(world: World) -> None:
    """Three statuses of each of two hand-offs: a message of their first push-backs, and
    each settle takes the next one (two in a row), in order, each once, none rung."""
    made = [_accepted_then_picked_up(world, n) for n in (1, 2)]
    for code, _, _, _ in made:
        world.carrier_event(f"{code}/R1", 2, Status.IN_TRANSIT,
                            PICKED_AT.replace(hour=5))
    assert len(world.bell.take()) == 2  # the in-transit ones, each behind two of its own
    run_jobs(world.rt, [accepted for _, _, accepted, _ in made])
    assert together.settled()
    for code, hid, _, _ in made:
        assert world.onestop.statuses(code) == ["accepted", "picked_up", "in_transit"]
        assert [world.attempts(j.id) for j in world.jobs("push_status", hid)] == [
            [(1, "ok")]] * 3
    assert world.bell.take() == []


def test_a_process_that_ends_rings_the_next_push_backs_for_the_others(world: World) -> None:
    """A pool process stopping takes no next push-back: it is rung, at once, for the other
    processes (not left for the sweep)."""
    code, _, accepted, picked = _accepted_then_picked_up(world)
    flight = inflight.for_process(world.rt.settings.job_threads, together.settle_and_go_on)
    try:
        flight.stop(5.0)
        _settle_directly(world, [accepted], make_pool=False)
    finally:
        inflight.stop(5.0)  # (the next test makes a pool of its own)
    assert world.onestop.statuses(code) == ["accepted"]
    assert world.bell.take() == [picked]


def _settle_directly(world: World, ids: list[int], *, make_pool: bool = True) -> None:
    """The rows claimed and sent, then their answers settled as the settler does (the
    process's pool made first, as a message's task makes it)."""
    if make_pool:
        inflight.for_process(world.rt.settings.job_threads, together.settle_and_go_on)
    taken = []
    for i in ids:
        with world.rt.db.unit_of_work() as s:
            t = take(Step(s, handoffs.locked(s, ledger.handoff_of(s, i) or 0),
                          world.rt.settings), i)
        assert t is not None
        taken.append(t)
    together.settle_and_go_on(world.rt, [perform(world.rt, t) for t in taken])
    assert together.settled()


def test_a_push_held_back_by_an_earlier_one_is_not_taken_beside_a_message(
        world: World) -> None:
    """The push-backs a message takes beside its own (together._pushes_alongside): due,
    unclaimed, oldest first, and none whose hand-off has an earlier one pending (its claim
    would only put it off a second again)."""
    _, _, accepted, picked = _accepted_then_picked_up(world, 1)
    _, _, accepted2, picked2 = _accepted_then_picked_up(world, 2)
    with world.rt.db.unit_of_work() as s:
        assert ledger.due_unclaimed(s, "push_status", [accepted2], 10) == [accepted]
        assert ledger.due_unclaimed(s, "push_status", [], 1) == [accepted]
    run_job(world.rt, accepted)
    with world.rt.db.unit_of_work() as s:  # answered: the next one of its hand-off is free
        assert ledger.due_unclaimed(s, "push_status", [accepted2], 10) == [picked]
