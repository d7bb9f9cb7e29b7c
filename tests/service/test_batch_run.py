"""The rows of one bell message run side by side (threads of one process), each as a row
of its own: every post once, each hand-off accepted once, the one-stop told once. A row
whose last try never settled (its process died holding it) runs last, alone, after the
others are settled: a poison row takes no other row down with it a second time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from tests.service.world import World
from worker.db import failures
from worker.db.models import Handoff, Job, utcnow
from worker.domain.enums import EventSource, JobKind, JobState
from worker.domain.model import PostOutcome
from worker.domain.rules import push_event_id
from worker.domain.statuses import Status
from worker.service import ledger
from worker.service.flow import handoffs
from worker.service.jobs import inflight, must_wait, post_order, together
from worker.service.jobs.base import Skip, Step
from worker.service.jobs.runner import perform, take
from worker.service.jobs.together import run_jobs, settle_answers
from worker.service.ledger import uow


def test_the_rows_of_one_message_each_run_once(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    made = [world.requested(n) for n in range(1, 13)]
    codes = [code for code, _ in made]
    posts = world.bell.take()
    assert len(posts) == 12
    run_jobs(world.rt, posts + posts[:3])  # a row rung twice in one message runs once
    assert together.settled()  # the calls' answers settled
    assert sorted(world.carrier.posted_numbers()) == sorted(f"{c}/R1" for c in codes)
    assert {world.handoff(h).status for _, h in made} == {Status.ACCEPTED}
    pushes = world.bell.take()
    assert len(pushes) == 12
    run_jobs(world.rt, pushes)
    assert together.settled()  # the calls' answers settled
    assert all(world.onestop.statuses(c) == ["accepted"] for c in codes)
    assert {j.state for j in world.jobs("post_order") + world.jobs("push_status")} == {"done"}
    assert "one by one" not in caplog.text  # claimed and settled together, no fallback


def test_a_message_of_push_backs_takes_those_already_due_beside_its_own(world: World) -> None:
    """A message of two push-backs sends the push-backs already due beside its own (up to
    PUSHES_BESIDE messages' rows), each once: the messages that rang the others claim none
    of them again. A message of posts takes no push-backs beside its own."""
    world.rt.settings = world.rt.settings.model_copy(update={"job_batch": 2})
    made = [world.requested(n) for n in range(1, 13)]
    codes = [code for code, _ in made]
    posts = world.bell.take()
    run_jobs(world.rt, posts[:2])
    assert together.settled()
    run_jobs(world.rt, posts[2:4])  # two push-backs due now: a message of posts leaves them
    assert together.settled()
    assert sorted(world.carrier.posted_numbers()) == sorted(f"{c}/R1" for c in codes[:4])
    assert all(world.onestop.statuses(c) == [] for c in codes)
    run_jobs(world.rt, posts[4:])
    assert together.settled()
    pushes = world.bell.take()
    assert len(pushes) == 12
    run_jobs(world.rt, pushes[:2])
    assert together.settled()
    told = [c for c in codes if world.onestop.statuses(c) == ["accepted"]]
    assert len(told) == together.PUSHES_BESIDE * 2  # the bound: that many messages' rows
    for i in range(2, 12, 2):  # the messages rung for them, two rows each
        run_jobs(world.rt, pushes[i:i + 2])
    assert together.settled()
    assert all(world.onestop.statuses(c) == ["accepted"] for c in codes)
    assert all(world.attempts(j.id) == [(1, "ok")] for j in world.jobs("push_status"))


def test_the_posts_of_a_message_read_the_area_table_once_for_their_citizens(
        world: World) -> None:
    """The area codes of a message's orders are read in one query (areas.read_ahead), and
    the agency's own once per transaction, not one query an order."""
    made = [world.requested(n) for n in range(1, 9)]
    posts = world.bell.take()
    sent: list[str] = []

    def seen(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(world.rt.db.engine, "before_cursor_execute", seen)
    try:
        run_jobs(world.rt, posts)
        assert together.settled()
    finally:
        event.remove(world.rt.db.engine, "before_cursor_execute", seen)
    assert {world.handoff(h).status for _, h in made} == {Status.ACCEPTED}
    assert all(o.order.receiver.address.carrier_area is not None
               for o in world.carrier.orders.values())
    assert sum("FROM carrier_areas" in q for q in sent) <= 2  # (8 before, one an order)


def test_a_row_whose_last_try_never_settled_runs_last_and_alone(world: World) -> None:
    codes = [world.requested(n)[0] for n in range(1, 6)]
    posts = world.bell.take()
    suspect = posts[0]
    with world.rt.db.unit_of_work() as s:  # its process took it, then died holding it
        assert ledger.claim(s, suspect, 30, waits=must_wait) is not None
    world.clock.advance(31)  # its lease ran out

    run_jobs(world.rt, posts)
    assert together.settled()  # the calls' answers settled
    posted = world.carrier.posted_numbers()
    assert sorted(posted) == sorted(f"{c}/R1" for c in codes)
    assert posted[-1] == f"{codes[0]}/R1"  # after every other row of the message
    assert world.attempts(suspect) == [(2, "ok")]  # its first try is the one that died


def test_a_batch_starts_no_row_past_half_its_time_limit(world: World) -> None:
    codes = [world.requested(n)[0] for n in range(1, 4)]
    posts = world.bell.take()
    world.rt.settings = world.rt.settings.model_copy(update={"task_time_limit": 0})
    run_jobs(world.rt, posts)  # its time is up before the first row: none is taken
    assert together.settled()  # the calls' answers settled
    assert world.carrier.posted_numbers() == []
    assert {j.attempts for j in world.jobs("post_order")} == {0}  # left for the sweep
    world.later(world.rt.settings.redispatch_after + 1)
    assert sorted(world.carrier.posted_numbers()) == sorted(f"{c}/R1" for c in codes)


def _one_thread(world: World, **settings: object) -> None:
    world.rt.settings = world.rt.settings.model_copy(update={"job_threads": 1, **settings})


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `condition` (polled), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.01)


def _oldest_call() -> float:
    current = inflight._current  # noqa: SLF001 (the process's pool, as the runner sees it)
    return current.oldest_call() if current is not None else 0.0


def _hold_the_first_call(world: World) -> tuple[threading.Event, threading.Event]:
    """The next call to the post office (the hook runs once) gets no answer until
    `release` is set; `in_call` is set once it is in it."""
    release, in_call = threading.Event(), threading.Event()

    def hold() -> None:
        in_call.set()
        assert release.wait(10)

    world.carrier.while_posting = hold
    return release, in_call


def test_rows_claimed_and_not_started_in_the_batch_s_time_are_given_back(
        world: World) -> None:
    """The message's rows are claimed together; one still waiting for a thread when half
    the task's time is gone is given back as it was (no try counted or recorded)."""
    codes = [world.requested(n)[0] for n in range(1, 4)]
    posts = world.bell.take()
    # half of it: 3 s, room for the claims on a loaded machine (with 1 s, 0.5 s for
    # claiming three rows was not always enough under make test's load: no call started;
    # with 2 s, once not either, in a parallel pass of 525 s on a slow hour)
    _one_thread(world, task_time_limit=6)
    world.carrier.while_posting = lambda: time.sleep(3.2)  # the first call takes longer
    run_jobs(world.rt, posts)
    assert together.settled()  # the calls' answers settled
    assert world.carrier.posted_numbers() == [f"{codes[0]}/R1"]
    rows = {j.id: j for j in world.jobs("post_order")}
    for late in posts[1:]:
        assert (rows[late].attempts, rows[late].locked_until, rows[late].rung_at) == (
            0, None, None)
        assert world.attempts(late) == []
    world.later(1)  # unrung: the sweep's next round rings them
    assert sorted(world.carrier.posted_numbers()) == sorted(f"{c}/R1" for c in codes)


def test_a_row_whose_lease_ran_out_while_it_waited_is_not_sent_if_claimed_again(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row that waited for a thread has its lease renewed before its call; when the
    lease ran out meanwhile and another worker claimed the row, this one sends nothing."""
    codes = [world.requested(n)[0] for n in range(1, 4)]
    posts = world.bell.take()
    # every row renewed before its call, however short its wait (no sleep to make one long
    # enough); no row starts 2 s after the claims (a lease of 1 s left 0.5 s, which a
    # loaded machine's claims transaction once took: nothing was sent)
    monkeypatch.setattr(together, "RENEW_AFTER", 0.0)
    _one_thread(world, lease_seconds=4)

    def meanwhile() -> None:  # during the first call: the leases run out, a worker claims
        world.clock.advance(5)
        with world.rt.db.unit_of_work() as s:
            assert ledger.claim(s, posts[1], 30, waits=must_wait) is not None

    world.carrier.while_posting = meanwhile
    run_jobs(world.rt, posts)
    assert together.settled()  # the calls' answers settled
    assert world.carrier.posted_numbers() == [f"{codes[0]}/R1", f"{codes[2]}/R1"]
    other = next(j for j in world.jobs("post_order") if j.id == posts[1])
    assert (other.state, other.attempts) == ("pending", 2)  # the other worker's, untouched
    assert world.attempts(posts[1]) == []


class TimeIsUp(Exception):
    """Stands for Celery's SoftTimeLimitExceeded (worker/db/failures.py ABORTS)."""


def test_when_the_task_s_time_runs_out_every_call_made_is_still_recorded(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The soft time limit fires in the main thread, here while the message's rows wait for
    the one thread: the limit stops the task; the call in flight is answered and settled
    (by the process's settler, not the task), and the rows not started are given back
    untried, so no row that was sent waits for its lease to be sent again."""
    made = [world.requested(n) for n in range(1, 5)]
    posts = world.bell.take()
    _one_thread(world)
    monkeypatch.setattr(failures, "ABORTS", [TimeIsUp])
    release, in_call = _hold_the_first_call(world)  # the limit fires during it

    def time_is_up(started: object, start_by: float, most: int) -> None:
        assert in_call.wait(5)
        raise TimeIsUp()

    monkeypatch.setattr(together, "wait_started", time_is_up)
    with pytest.raises(TimeIsUp):
        run_jobs(world.rt, posts)
    release.set()
    assert together.settled()
    (first_code, first), rest = made[0], made[1:]
    assert world.carrier.posted_numbers() == [f"{first_code}/R1"]
    jobs = {j.handoff_id: (j.state, j.attempts, j.locked_until) for j in world.jobs("post_order")}
    assert (world.handoff(first).status, jobs[first]) == (Status.ACCEPTED, ("done", 1, None))
    assert {jobs[h] for _, h in rest} == {("pending", 0, None)}  # untried, for the sweep
    assert {world.handoff(h).status for _, h in rest} == {Status.REQUESTED}


def test_one_answer_that_cannot_be_settled_costs_the_others_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The answers in hand are settled in one transaction; when one of them fails there
    (a bug in its kind's settle, say), they are settled again one transaction each: the
    others are kept, and that one is left claimed for its lease and the sweep."""
    made = [world.requested(n) for n in range(1, 5)]
    world.bell.take()
    bad = made[0][1]
    real = post_order.settle

    def settle(step: Step, job: ledger.Claimed, outcome: PostOutcome) -> None:
        if step.handoff.id == bad:
            raise RuntimeError("a bug in this one row's settle")
        real(step, job, outcome)

    monkeypatch.setattr(post_order, "settle", settle)
    with uow.begin(world.rt) as s:
        taken = [take(Step(s, handoffs.locked(s, j.handoff_id), world.rt.settings), j.id)
                 for j in world.jobs("post_order")]
    answers = [perform(world.rt, t) for t in taken if t is not None]
    assert len(answers) == 4
    settle_answers(world.rt, answers)
    assert "4 answers settled one by one" in caplog.text
    assert [world.handoff(h).status for _, h in made[1:]] == [Status.ACCEPTED] * 3
    assert world.handoff(bad).status != Status.ACCEPTED
    stuck = [j for j in world.jobs("post_order") if j.handoff_id == bad]
    assert [(j.state, j.attempts) for j in stuck] == [("pending", 1)]
    assert stuck[0].locked_until is not None  # its lease, then the sweep, as a lost try


def test_push_backs_queued_by_a_batch_are_written_together_and_a_known_key_costs_nothing(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The push-backs the answers of one settle queue are written together at its flush
    (ledger.written_together: one INSERT on PostgreSQL, bench/round_trips.py), each rung
    once. One whose key exists already fails
    that flush: the answers are settled again one transaction each (where a known key is
    told as such), every hand-off accepted, the known push-back kept once."""
    made = [world.requested(n) for n in range(1, 6)]
    world.bell.take()
    first = made[0][1]
    order = world.handoff(first).order_number
    with uow.begin(world.rt) as s:  # its "accepted" told already (a redelivery, say)
        ledger.enqueue(s, JobKind.PUSH_STATUS, first,
                       f"push:{push_event_id(order, f'accepted:{order}')}", {})
    known = world.bell.take()

    def settle_together(handoff_ids: list[int]) -> None:
        """The posts of these hand-offs answered, settled in one call."""
        with uow.begin(world.rt) as s:
            taken = [take(Step(s, handoffs.locked(s, j.handoff_id), world.rt.settings), j.id)
                     for j in world.jobs("post_order") if j.handoff_id in handoff_ids]
        settle_answers(world.rt, [perform(world.rt, t) for t in taken if t is not None])

    settle_together([h for _, h in made[2:]])
    assert "one by one" not in caplog.text
    settle_together([h for _, h in made[:2]])  # the first's push-back known already
    assert "2 answers settled one by one" in caplog.text
    pushes = world.jobs("push_status")
    assert {world.handoff(h).status for _, h in made} == {Status.ACCEPTED}
    assert len(pushes) == 5 == len({p.idempotency_key for p in pushes})
    assert sorted(world.bell.take()) == sorted(p.id for p in pushes if p.id not in known)


def test_one_row_that_cannot_be_claimed_costs_the_others_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The rows for the free threads are claimed in one transaction; when one of them
    fails there (a bug in its kind's prepare, say), they are claimed again one transaction
    each: the others run, and that one stays as it was, for the sweep."""
    made = [world.requested(n) for n in range(1, 5)]
    posts = world.bell.take()
    bad = made[0][1]
    real = post_order.prepare

    def prepare(step: Step, job: ledger.Claimed) -> post_order.Post | Skip:
        if step.handoff.id == bad:
            raise RuntimeError("a bug in this one row's prepare")
        return real(step, job)

    monkeypatch.setattr(post_order, "prepare", prepare)
    run_jobs(world.rt, posts)
    assert together.settled()  # the calls' answers settled
    assert "4 jobs claimed one by one" in caplog.text
    assert [world.handoff(h).status for _, h in made[1:]] == [Status.ACCEPTED] * 3
    stuck = [j for j in world.jobs("post_order") if j.handoff_id == bad]
    assert [(j.state, j.attempts, j.locked_until) for j in stuck] == [("pending", 0, None)]


def test_the_rows_of_a_message_are_claimed_together_as_one_by_one(world: World) -> None:
    """`ledger.claim_many` (one UPDATE for the message's rows) claims what `ledger.claim`
    claims row by row: the due ones, not one that is not due, done, held by another worker,
    waiting for an earlier push of its hand-off, or a cancel whose hand-off's post is
    claimed in the same message (the post may be on the wire); a row whose last try never
    settled is taken as lost, its count unchanged."""
    made = [world.requested(n) for n in range(1, 7)]
    posts = world.bell.take()
    now = utcnow()
    with world.rt.db.unit_of_work() as s:
        h = s.get_one(Handoff, made[0][1])
        for minute in (1, 2):  # two push-backs of one hand-off: the later one waits
            handoffs.queue_push(s, h, handoffs.Change(Status.REQUESTED, EventSource.WORKER,
                                                      now + timedelta(minutes=minute)))
        s.get_one(Job, posts[1]).next_attempt_at = now + timedelta(minutes=1)  # not due
        s.get_one(Job, posts[2]).state = JobState.DONE
        lost = s.get_one(Job, posts[4])  # its tries used up, the last one never settled
        lost.attempts, lost.locked_until = 3, now - timedelta(seconds=1)
        cancel = ledger.enqueue(s, JobKind.CANCEL_ORDER, made[5][1], "cancel:test")
        assert cancel is not None
        cancel_id = cancel.id
    with world.rt.db.unit_of_work() as s:  # another worker holds this one
        assert ledger.claim(s, posts[3], 300, waits=must_wait) is not None
    pushes = [j.id for j in world.jobs("push_status")]
    ids = posts + pushes + [cancel_id]

    def claimed(together: bool) -> dict[int, tuple[int, bool]]:
        with world.rt.db.unit_of_work() as s:
            rows = list(s.scalars(select(Job).where(Job.id.in_(ids)).order_by(Job.id)))
            if together:  # in no order (the runner reads them so)
                got = ledger.claim_many(s, rows[::-1], 60, waits=must_wait, max_attempts=3)
            else:
                got = {j.id: c for j in rows if (c := ledger.claim(
                    s, j.id, 60, waits=must_wait, max_attempts=3)) is not None}
            s.rollback()
        return {i: (c.attempts, c.lost) for i, c in got.items()}

    together = claimed(True)
    assert together == claimed(False)
    assert together == {posts[0]: (1, False), posts[5]: (1, False), posts[4]: (3, True),
                        pushes[0]: (1, False)}


def test_the_next_message_runs_while_the_last_call_of_one_is_in_flight(world: World) -> None:
    """A message's task returns once each of its rows has started: the process claims the
    next message's rows and its free threads send them while the first message's slow call
    is still waiting for its answer, which is then settled as any other."""
    made = [world.requested(n) for n in range(1, 5)]
    posts = world.bell.take()
    world.rt.settings = world.rt.settings.model_copy(update={"job_threads": 2})
    release, in_call = _hold_the_first_call(world)
    run_jobs(world.rt, posts[:2])  # returns, its first call still held (released below)
    assert in_call.wait(5)
    run_jobs(world.rt, posts[2:])  # sent on the other thread meanwhile
    _until(lambda: len(world.carrier.orders) == 3)
    held = next(h for c, h in made if f"{c}/R1" == world.carrier.calls[0][1])
    assert len(world.carrier.orders) == 3  # every other row's order made
    assert world.handoff(held).status == Status.REQUESTED  # still waiting for its answer
    release.set()
    assert together.settled()
    assert sorted(world.carrier.orders) == sorted(f"{c}/R1" for c, _ in made)
    assert {world.handoff(h).status for _, h in made} == {Status.ACCEPTED}
    assert {(j.state, j.attempts) for j in world.jobs("post_order")} == {("done", 1)}


def test_a_message_returns_while_its_last_rows_wait_for_a_thread_and_they_are_still_sent(
        world: World) -> None:
    """At most one row a thread may still wait when the task returns (the process takes its
    next message meanwhile, so its threads never run dry); that row is sent, once, when a
    thread is free, not given back."""
    made = [world.requested(n) for n in range(1, 3)]
    posts = world.bell.take()
    _one_thread(world)
    release, in_call = _hold_the_first_call(world)
    task = threading.Thread(target=run_jobs, args=(world.rt, posts))
    task.start()
    assert in_call.wait(5)
    task.join(5)
    assert not task.is_alive()  # returned: one call held, the other row waiting for it
    assert len(world.carrier.calls) == 1
    release.set()
    assert together.settled()
    assert sorted(world.carrier.posted_numbers()) == sorted(f"{c}/R1" for c, _ in made)
    assert {(j.state, j.attempts) for j in world.jobs("post_order")} == {("done", 1)}


def test_a_row_still_waiting_for_a_thread_at_its_time_is_given_back_after_its_task_returned(
        world: World) -> None:
    """The task has returned (one row a thread may wait); the call ahead of the waiting row
    takes longer than half the lease: the row is given back untried then, for the sweep,
    before its lease can run out, not sent late."""
    made = [world.requested(n) for n in range(1, 3)]
    posts = world.bell.take()
    _one_thread(world, lease_seconds=2)  # (given back 1 s after the claim)
    release, in_call = _hold_the_first_call(world)
    run_jobs(world.rt, posts)  # returns: one call held, the other row waiting for it
    assert in_call.wait(5)
    first = next(h for c, h in made if f"{c}/R1" == world.carrier.calls[0][1])
    _until(lambda: any(j.locked_until is None for j in world.jobs("post_order")))
    release.set()
    assert together.settled()
    jobs = {j.handoff_id: (j.state, j.attempts, j.locked_until) for j in world.jobs("post_order")}
    assert len(world.carrier.calls) == 1
    assert jobs == {first: ("done", 1, None),
                    next(h for _, h in made if h != first): ("pending", 0, None)}


def test_a_process_that_stops_gives_back_the_rows_not_started_and_settles_the_call_made(
        world: World) -> None:
    """The pool process's shutdown signal (worker/tasks.py): rows still waiting for a thread
    are given back untried for the sweep; the call in flight is answered and settled."""
    made = [world.requested(n) for n in range(1, 4)]
    posts = world.bell.take()
    _one_thread(world, lease_seconds=4)
    release, in_call = _hold_the_first_call(world)
    task = threading.Thread(target=run_jobs, args=(world.rt, posts))
    task.start()
    assert in_call.wait(5)
    stopping = threading.Thread(target=together.stop_in_flight, args=(10,))
    stopping.start()  # cancels the two rows queued behind the held call, waits for it
    _until(lambda: sum(j.locked_until is None for j in world.jobs("post_order")) == 2)
    release.set()
    stopping.join(10)
    task.join(10)
    first = next(h for c, h in made if f"{c}/R1" == world.carrier.calls[0][1])
    jobs = {j.handoff_id: (j.state, j.attempts, j.locked_until) for j in world.jobs("post_order")}
    assert len(world.carrier.calls) == 1
    assert (world.handoff(first).status, jobs[first]) == (Status.ACCEPTED, ("done", 1, None))
    assert {jobs[h] for _, h in made if h != first} == {("pending", 0, None)}


def test_rows_handed_to_a_pool_stopped_meanwhile_are_given_back_untried(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's end can stop its pool between a message's claims and its hand-overs
    (a CI run met it): those rows are given back for the sweep, the message ends cleanly."""
    for n in range(1, 4):
        world.requested(n)
    posts = world.bell.take()
    stopped = inflight.Inflight(2, settle_answers)
    assert stopped.stop(1)
    monkeypatch.setattr(inflight, "for_process", lambda *_: stopped)
    run_jobs(world.rt, posts)
    assert stopped.settled(5)
    assert world.carrier.calls == []
    assert {(j.state, j.attempts, j.locked_until) for j in world.jobs("post_order")} \
        == {("pending", 0, None)}


def test_a_call_running_longer_than_a_lease_ends_the_process(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its row has been claimed again by now; as the task's hard time limit did when the
    calls ran in the task, the pool process ends (its pool starts a new one)."""
    for n in range(1, 5):
        world.requested(n)
    posts = world.bell.take()
    _one_thread(world, lease_seconds=1)  # (its first row starts within half of it)
    release, in_call = _hold_the_first_call(world)

    class Ended(Exception):
        pass

    def exit_(status: int) -> None:
        raise Ended(status)

    monkeypatch.setattr(together.os, "_exit", exit_)
    run_jobs(world.rt, posts[:2])  # (one row a message would run without the threads)
    assert in_call.wait(5)
    _until(lambda: _oldest_call() > 1)  # the held call: longer than the lease
    with pytest.raises(Ended) as ended:
        run_jobs(world.rt, posts[2:])
    assert ended.value.args == (together.EXIT_STUCK,)
    release.set()
    assert together.settled()
