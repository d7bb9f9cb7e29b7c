"""The rows of one bell message run side by side (threads of one process), each as a row
of its own: every post once, each hand-off accepted once, the one-stop told once. A row
whose last try never settled (its process died holding it) runs last, alone, after the
others are settled: a poison row takes no other row down with it a second time."""

from __future__ import annotations

from tests.service.world import World
from worker.domain.statuses import Status
from worker.service import ledger
from worker.service.jobs import must_wait
from worker.service.jobs.runner import run_jobs


def test_the_rows_of_one_message_each_run_once(world: World) -> None:
    made = [world.requested(n) for n in range(1, 13)]
    codes = [code for code, _ in made]
    posts = world.bell.take()
    assert len(posts) == 12
    run_jobs(world.rt, posts + posts[:3])  # a row rung twice in one message runs once
    assert sorted(world.carrier.posted_numbers()) == sorted(f"{c}/R1" for c in codes)
    assert {world.handoff(h).status for _, h in made} == {Status.ACCEPTED}
    pushes = world.bell.take()
    assert len(pushes) == 12
    run_jobs(world.rt, pushes)
    assert all(world.onestop.statuses(c) == ["accepted"] for c in codes)
    assert {j.state for j in world.jobs("post_order") + world.jobs("push_status")} == {"done"}


def test_a_row_whose_last_try_never_settled_runs_last_and_alone(world: World) -> None:
    codes = [world.requested(n)[0] for n in range(1, 6)]
    posts = world.bell.take()
    suspect = posts[0]
    with world.rt.db.unit_of_work() as s:  # its process took it, then died holding it
        assert ledger.claim(s, suspect, 30, waits=must_wait) is not None
    world.clock.advance(31)  # its lease ran out

    run_jobs(world.rt, posts)
    posted = world.carrier.posted_numbers()
    assert sorted(posted) == sorted(f"{c}/R1" for c in codes)
    assert posted[-1] == f"{codes[0]}/R1"  # after every other row of the message
    assert world.attempts(suspect) == [(2, "ok")]  # its first try is the one that died


def test_a_batch_starts_no_row_past_half_its_time_limit(world: World) -> None:
    codes = [world.requested(n)[0] for n in range(1, 4)]
    posts = world.bell.take()
    world.rt.settings = world.rt.settings.model_copy(update={"task_time_limit": 0})
    run_jobs(world.rt, posts)  # its time is up before the first row: none is taken
    assert world.carrier.posted_numbers() == []
    assert {j.attempts for j in world.jobs("post_order")} == {0}  # left for the sweep
    world.later(world.rt.settings.redispatch_after + 1)
    assert sorted(world.carrier.posted_numbers()) == sorted(f"{c}/R1" for c in codes)
