"""Both quota limiters (Redis in production, the database on the embedded default), each on
its real store: several OS processes hammering one account never send more than the quota
in any one-second window; a 429's hold slows that account only; a hold longer than about a
second is a TransientError at once (no process sleeps it out), and so is a wait past the
maximum; the counters /metrics reads add up."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import select

from integrations.quota.redis_bucket import RedisBucket
from tests.quota_windows import max_in_window
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import RateBucket
from worker.domain.errors import TransientError
from worker.domain.quota import MAX_KEPT, Budget
from worker.ports.quota import RateLimiter
from worker.service.agencies.quota import DatabaseBucket

# Every test here times a limiter against the clock: in the parallel pass other tests' load
# stretched one account's 20 quick requests from 1.1 s past a 1.3 s bound (CI, once), so
# the whole module runs in make test's serial pass.
pytestmark = pytest.mark.serial

A, B = "ngsp:C0001", "lgsp:C0002"
MARGIN = 0.1


def build(kind: str, url: str, *, max_wait: float = 30.0, margin: float = MARGIN) -> RateLimiter:
    """A limiter on the store at `url` (also called in child processes)."""
    if kind == "redis":
        return RedisBucket(redis.Redis.from_url(url), max_wait=max_wait, margin=margin)
    return DatabaseBucket(Database(url), max_wait=max_wait, margin=margin)


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.services), "sqlite",
                        pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[str, str]]:
    """(kind, url) of a fresh store of each kind."""
    kind = request.param
    if kind == "redis":
        yield kind, request.getfixturevalue("redis_url")
    elif kind == "sqlite":
        yield kind, request.getfixturevalue("sqlite_db").url
    else:
        url = request.getfixturevalue("pg_url")
        upgrade(url)
        yield kind, url


def _hammer(kind: str, url: str, account: str, per_second: float, threads: int, each: int,
            start, out) -> None:  # type: ignore[no-untyped-def]
    """One OS process: `threads` threads, each taking `each` slots; puts the send times."""
    limiter = build(kind, url)
    sent: list[float] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(each):
            limiter.acquire(account, per_second)
            now = time.time()  # the moment the request would go out
            with lock:
                sent.append(now)

    start.wait(60)  # every process starts together, once all have imported
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(sent)


def test_processes_hammering_one_account_never_pass_the_quota(store):
    kind, url = store
    per_second, procs, threads, each = 20, 4, 4, 6
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start = ctx.Barrier(procs + 1)  # spawned interpreters take a moment to import
    children = [ctx.Process(target=_hammer,
                            args=(kind, url, A, per_second, threads, each, start, out))
                for _ in range(procs)]
    for c in children:
        c.start()
    start.wait(60)
    sent = [t for _ in children for t in out.get(timeout=120)]
    for c in children:
        c.join(timeout=30)

    total = procs * threads * each
    assert len(sent) == total
    assert max_in_window(sent) <= per_second
    # hammered for real: 160 requests at 20 per 1.1 s take at least 7 windows
    assert max(sent) - min(sent) >= (total / per_second - 1) * (1 + MARGIN) - 0.2
    (usage,) = build(kind, url).usage()
    assert (usage.account, usage.requests) == (A, total)
    assert usage.waits > 0 and usage.waited_seconds > 0 and usage.throttled == 0


def test_a_429_holds_its_account_only(store):
    kind, url = store
    limiter = build(kind, url)
    limiter.throttled(A, 0.9)  # short enough to be slept out (MAX_HOLD_SLEEP_S)
    held: list[float] = []
    thread = threading.Thread(target=lambda: held.append(limiter.acquire(A, 20)))
    started = time.monotonic()
    thread.start()
    # the other account goes at full speed meanwhile: 20 requests, one every 55 ms
    waits = [limiter.acquire(B, 20) for _ in range(20)]
    assert max(waits) <= 1.1 / 20 + 0.01
    assert time.monotonic() - started < 1.3
    thread.join()
    assert 0.7 <= held[0] <= 0.95 and time.monotonic() - started >= 0.8
    usage = {u.account: u for u in limiter.usage()}
    assert (usage[A].throttled, usage[A].requests, usage[A].waits) == (1, 1, 1)
    assert (usage[B].throttled, usage[B].requests) == (0, 20)


def _acquire_in_thread(limiter: RateLimiter, account: str, per_second: float,
                       out: list[float | TransientError], began: list[float] | None = None
                       ) -> threading.Thread:
    def run() -> None:
        if began is not None:
            began.append(time.monotonic())
        try:
            out.append(limiter.acquire(account, per_second))
        except TransientError as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_429_during_the_wait_sends_the_request_past_the_hold(store):
    """A request already asleep until its slot does not go into a hold that began meanwhile."""
    kind, url = store
    limiter = build(kind, url, margin=0.0)
    assert limiter.acquire(A, 2) == 0.0
    waited: list[float | TransientError] = []
    began: list[float] = []
    started = time.monotonic()
    thread = _acquire_in_thread(limiter, A, 2, waited, began)  # its slot: half a second away
    time.sleep(0.1)
    held_at = time.monotonic()
    limiter.throttled(A, 0.95)  # the hold ends at about 1.05 s, a short one: slept out
    thread.join()
    assert time.monotonic() - started >= 1.0
    # the wait it reports reaches past the hold, counted from its own start (a loaded
    # machine may start the thread late: 1.095 s once in CI against a bound of 1.1 from
    # the test's start)
    assert isinstance(waited[0], float) and waited[0] <= 1.35
    assert began[0] + waited[0] >= held_at + 0.95 - 0.02


def test_a_long_hold_during_the_wait_is_a_retry_at_once(store):
    """A request asleep until its slot when a long hold begins does not sleep the hold out
    in its worker slot: at its slot it is a TransientError with what is left of the hold."""
    kind, url = store
    limiter = build(kind, url, margin=0.0)
    assert limiter.acquire(A, 1) == 0.0
    out: list[float | TransientError] = []
    started = time.monotonic()
    thread = _acquire_in_thread(limiter, A, 1, out)  # its slot is one second away
    time.sleep(0.3)
    limiter.throttled(A, 3.0)  # the hold ends at about 3.3 s
    thread.join()
    assert time.monotonic() - started < 1.6  # back at its slot, not after the hold
    (err,) = out
    assert isinstance(err, TransientError)
    assert err.retry_after is not None and 2.0 <= err.retry_after <= 2.5


@pytest.mark.parametrize("hold", [5.0, 30.0])
def test_a_hold_longer_than_about_a_second_is_a_retry_without_sleeping(store, hold):
    """A 429's (or a 503's) hold: every request of the account is refused at once with
    what is left of it, and takes no slot; the other account is not slowed."""
    kind, url = store
    limiter = build(kind, url)  # the production maximum wait: 30 s
    limiter.throttled(A, hold)
    started = time.monotonic()
    for _ in range(3):
        with pytest.raises(TransientError) as err:
            limiter.acquire(A, 20)
        assert err.value.retry_after is not None
        assert hold - 1.0 <= err.value.retry_after <= hold
    assert time.monotonic() - started < 0.5  # no sleep
    assert [limiter.acquire(B, 20) for _ in range(3)][0] == 0.0
    usage = {u.account: u for u in limiter.usage()}
    assert (usage[A].requests, usage[A].waits, usage[A].throttled) == (0, 0, 1)
    assert usage[B].requests == 3


def test_a_wait_past_the_maximum_is_a_retry_with_retry_after(store):
    kind, url = store
    limiter = build(kind, url, max_wait=0.5)
    assert limiter.acquire(A, 1) == 0.0
    with pytest.raises(TransientError) as err:
        limiter.acquire(A, 1)  # the second would wait about 1.1 s
    assert err.value.retry_after is not None and 0.9 <= err.value.retry_after <= 1.2
    assert A in str(err.value)

    limiter.throttled(B, 10)
    with pytest.raises(TransientError) as err:
        limiter.acquire(B, 2)
    assert err.value.retry_after is not None and 9 <= err.value.retry_after <= 10.1
    usage = {u.account: u for u in limiter.usage()}
    assert usage[A].requests == 1 and usage[B].requests == 0  # a refusal takes no slot


def test_a_caller_s_shorter_maximum_wait_is_kept(store):
    """A request sent again after a short 429 hold waits for its slot a short while only
    (the carrier client's RESEND_WAIT_S), whatever the limiter's own maximum."""
    kind, url = store
    limiter = build(kind, url, max_wait=30.0)
    assert limiter.acquire(A, 10) == 0.0
    with pytest.raises(TransientError) as err:
        limiter.acquire(A, 10, max_wait=0.01)  # the second slot is about 0.1 s away
    assert err.value.retry_after is not None and 0.05 <= err.value.retry_after <= 0.2
    assert 0.05 <= limiter.acquire(A, 10, max_wait=60.0) <= 0.2  # waited for it


def test_below_one_request_a_second_the_window_stretches(store):
    kind, url = store
    limiter = build(kind, url, margin=0.0)
    started = time.monotonic()
    assert limiter.acquire(A, 2.5) == 0.0
    assert 0.4 <= limiter.acquire(A, 2.5) <= 0.51  # 2.5/s allows 2 in a second, never 3
    assert 0.4 <= limiter.acquire(A, 2.5) <= 0.51
    assert 0.95 <= time.monotonic() - started <= 1.3
    assert limiter.acquire(B, 0.5) == 0.0
    assert 1.9 <= limiter.acquire(B, 0.5) <= 2.05  # one every two seconds


def test_slots_left_unused_are_caught_up_within_the_window(store):
    """10 in any 0.4 s: evenly spaced (0.04 s) while the store knows fewer than 10 slots;
    after a pause, twice as fast until the window holds 10 again, never 11."""
    kind, url = store
    limiter = build(kind, url)
    budget = Budget(interval=0.04, window=0.4, count=10)

    def slots(n: int) -> list[float]:
        return [limiter._reserve(A, budget, True, 30.0, 1.0).slot for _ in range(n)]  # type: ignore[attr-defined]

    first = slots(10)
    assert first[-1] - first[0] == pytest.approx(0.36, abs=0.005)  # evenly spaced
    time.sleep(max(0.0, first[-1] - first[0]) + 0.3)  # no request for 0.3 s after the last
    after = slots(11)
    assert after[9] - after[0] < 0.27  # caught up (0.18 at twice the pace; evenly: 0.36)
    assert after[10] - after[0] == pytest.approx(0.4, abs=0.005)  # the window is full
    assert max_in_window(first + after, 0.4 - 1e-6) == 10


def test_a_quota_above_the_slots_kept_is_evenly_spaced_and_stores_no_slots(store):
    """Past MAX_KEPT a second, no list of the last `count` slots is read or written on each
    reservation (its cost was a tenth of benchmark 2's embedded rate); the account is evenly
    spaced, a pause is not caught up."""
    kind, url = store
    limiter = build(kind, url)
    count = MAX_KEPT + 1
    budget = Budget(interval=10.0 / count, window=10.0, count=count)  # (10 ms apart)

    def slots(n: int) -> list[float]:
        return [limiter._reserve(A, budget, True, 30.0, 1.0).slot for _ in range(n)]  # type: ignore[attr-defined]

    slots(3)
    time.sleep(0.1)
    after = slots(3)
    gaps = [b - a for a, b in zip(after[:-1], after[1:], strict=True)]
    assert gaps == pytest.approx([budget.interval] * 2, abs=1e-5)
    if kind == "redis":
        assert redis.Redis.from_url(url).llen(f"{limiter.prefix}{A}:recent") == 0  # type: ignore[attr-defined]
    else:
        with Database(url).unit_of_work() as s:
            assert s.scalar(select(RateBucket.recent).where(RateBucket.account == A)) == "[]"


@pytest.mark.services
def test_after_a_flush_the_new_state_waits_out_the_window_of_the_lost_one(redis_url: str):
    """The lost state may have caught up just before it went (its last 10 slots in 0.2 s, up
    to the floor): the new one cannot know, so its first slot is a whole window later."""
    client = redis.Redis.from_url(redis_url)
    bucket = RedisBucket(client, max_wait=30.0, margin=0.0)
    budget = Budget(interval=0.04, window=0.4, count=10)
    first = bucket._reserve(A, budget, True, 30.0, 1.0).slot
    client.flushdb()
    again = bucket._reserve(A, budget, True, 30.0, 1.0).slot
    client.close()
    assert again - first >= 0.1 + 0.4 - 0.01  # the floor (LOOK_AHEAD_S), then the window


@pytest.mark.services
def test_after_a_flush_a_threads_older_slot_is_asked_again_whatever_the_others_took(
        redis_url: str) -> None:
    """Threads of one process share the bucket (a batch's rows): one thread's new slot after
    Redis lost the state must not make another thread's older slot look granted by it."""
    client = redis.Redis.from_url(redis_url)
    bucket = RedisBucket(client, max_wait=30.0, margin=0.0)
    budget = Budget.of(2.0, 0.0)
    seen: dict[str, float] = {}

    def reserve_then_check(name: str, between: threading.Event | None,
                           done: threading.Event | None) -> None:
        bucket._reserve(A, budget, True, 30.0, 1.0)
        if between is not None and done is not None:
            between.set()
            done.wait(10)
        seen[name] = bucket._blocked_until(A)

    reserved, flushed = threading.Event(), threading.Event()
    old = threading.Thread(target=reserve_then_check, args=("old", reserved, flushed))
    old.start()
    reserved.wait(10)
    client.flushdb()  # Redis lost the bucket while the old slot waits
    new = threading.Thread(target=reserve_then_check, args=("new", None, None))
    new.start()
    new.join(10)
    flushed.set()
    old.join(10)
    client.close()
    assert seen["old"] == float("inf")  # granted by a lost state: ask again
    assert seen["new"] != float("inf")
