"""The quota's arithmetic (worker/domain/quota.py): whatever the arrival times, holds and
quotas, the granted slots never put more than the quota in any one-second window (nor more
than one per interval), and come out in the order they were asked for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.quota_windows import max_in_window
from worker.domain.errors import TransientError
from worker.domain.quota import (
    MAX_HOLD_SLEEP_S,
    MAX_KEPT,
    Budget,
    Reservation,
    hold_left,
    next_slot,
    take_slot,
)


@pytest.mark.parametrize(("per_second", "interval", "count"), [
    (20, 1.1 / 20, 20), (20.9, 1.1 / 20, 20), (2.5, 1.1 / 2, 2), (1, 1.1, 1), (0.5, 2.1, 1),
    (0.25, 4.1, 1)])
def test_budget_never_rounds_the_quota_up(per_second, interval, count):
    budget = Budget.of(per_second, 0.1)
    assert budget.interval == pytest.approx(interval)
    assert budget.count == count
    assert budget.window == pytest.approx(interval * count)


def test_no_quota_is_refused():
    with pytest.raises(ValueError):
        Budget.of(0, 0.1)


def _grant(budget: Budget, granted: list[float], now: float, blocked: float) -> float:
    """One reservation, as both limiters make it: the slot `count` slots ago, once known."""
    slot = next_slot(granted[-1] if granted else -1e18, now, blocked, budget, granted[::-1])
    granted.append(slot)
    return slot


@given(per_second=st.floats(0.2, 50), margin=st.floats(0, 0.5),
       gaps=st.lists(st.floats(0, 0.3), min_size=1, max_size=80),
       holds=st.dictionaries(st.integers(0, 79), st.floats(0, 3), max_size=3))
def test_granted_slots_keep_the_quota_in_every_window(per_second, margin, gaps, holds):
    budget = Budget.of(per_second, margin)
    granted: list[float] = []
    now, blocked = 1000.0, 0.0
    for i, gap in enumerate(gaps):
        now += gap
        if i in holds:
            blocked = max(blocked, now + holds[i])
        assert _grant(budget, granted, now, blocked) >= max(now, blocked)
    assert granted == sorted(granted)  # first come, first served
    assert all(b - a >= budget.catch_up - 1e-9 for a, b in zip(granted[:-1], granted[1:],
                                                               strict=True))
    # the first `count` evenly spaced: no burst before the window's history is known
    first = granted[:budget.count]
    assert all(b - a >= budget.interval - 1e-9 for a, b in zip(first[:-1], first[1:],
                                                               strict=True))
    # the margin's slack kept: the window plus the margin never holds more than the quota
    assert max_in_window(granted, budget.window - 1e-9) <= budget.count
    assert max_in_window(granted, 1.0) <= max(1, int(per_second))


def test_a_moment_with_no_request_is_caught_up_within_the_window():
    """20/s: 20 slots in any 1.1 s. Requests waiting all the time get one every 55 ms; after
    0.5 s with none ready, the next ones come twice as fast until the window is full again,
    so the second after the pause still holds the quota, not what was left of it."""
    budget = Budget.of(20, 0.1)
    granted: list[float] = []
    for _ in range(40):  # a busy account: every request asks at once, sleeps to its slot
        _grant(budget, granted, 1000.0, 0.0)
    assert granted[-1] - granted[-2] == pytest.approx(budget.interval)
    pause_end = granted[-1] + 0.5
    after = [_grant(budget, granted, pause_end, 0.0) for _ in range(20)]
    assert after[1] - after[0] == pytest.approx(budget.interval / 2)  # catching up
    assert max_in_window(granted, budget.window - 1e-9) == 20
    even = [pause_end + i * budget.interval for i in range(20)]  # the old rule's slots
    assert after[-1] < even[-1] - 0.2


def test_above_the_slots_kept_a_pause_is_not_caught_up():
    """A quota past MAX_KEPT keeps no slots (Budget.kept): even with a full list given,
    the next slot after a pause is one interval after the last, never the catch-up's."""
    budget = Budget.of(MAX_KEPT + 1, 0.0)
    assert budget.kept == 0
    recent = [100.0 - i * budget.interval for i in range(budget.count)]
    after_pause = next_slot(recent[0], 100.5, 0.0, budget, recent)
    assert after_pause == pytest.approx(100.5)
    assert next_slot(after_pause, 100.5, 0.0, budget, [after_pause, *recent]) \
        == pytest.approx(after_pause + budget.interval)  # (catch-up: half of it)


def test_a_refused_reservation_is_a_transient_error_with_the_wait():
    def reserve(account: str, budget: Budget, new: bool, max_wait: float,
                max_hold: float) -> Reservation:
        return Reservation(False, 42.0, 1042.0, 0.0)

    with pytest.raises(TransientError) as err:
        take_slot("ngsp:C0001", Budget.of(20, 0.1), 30, reserve=reserve,
                  blocked_until=lambda a: 0.0, sleep=lambda s: None, clock=lambda: 0.0)
    assert err.value.retry_after == 42.0 and "ngsp:C0001" in str(err.value)


def test_a_hold_that_began_during_the_sleep_takes_a_later_slot_counted_once():
    asks: list[tuple[bool, float]] = []
    # each sleep ends a look-ahead before the slot, a look at the hold, then the rest; the
    # second answer was read 0.25 s before the clock then said: that much less sleep
    answers = iter([Reservation(True, 1.0, 101.0, 10.0), Reservation(True, 2.0, 103.0, 11.0)])
    clock = iter([10.0, 11.25, 12.95])
    holds = iter([102.5, 102.5])
    slept: list[float] = []

    def reserve(account: str, budget: Budget, new: bool, max_wait: float,
                max_hold: float) -> Reservation:
        asks.append((new, max_wait))
        return next(answers)

    waited = take_slot("ngsp:C0001", Budget.of(1, 0.0), 30, reserve=reserve,
                       blocked_until=lambda a: next(holds), sleep=slept.append,
                       clock=lambda: next(clock))
    assert waited == 3.0 and slept == pytest.approx([0.9, 1.65, 0.05])
    assert asks == [(True, 30), (False, 29.0)]  # a new request once; the rest of the budget


@pytest.mark.parametrize(("blocked_until", "left"), [
    (0.0, 0.0), (1000.5, 0.0), (1001.0, 0.0),  # no hold, or one short enough to sleep
    (1001.2, 1.2), (1030.0, 30.0)])
def test_a_hold_longer_than_the_bound_is_what_is_left_of_it(blocked_until, left):
    assert MAX_HOLD_SLEEP_S == 1.0
    assert hold_left(1000.0, blocked_until, MAX_HOLD_SLEEP_S) == pytest.approx(left)


def test_a_held_account_is_a_transient_error_at_once_without_sleeping():
    asks: list[float] = []
    slept: list[float] = []

    def reserve(account: str, budget: Budget, new: bool, max_wait: float,
                max_hold: float) -> Reservation:
        asks.append(max_hold)
        return Reservation(False, 28.5, 1028.5, 0.0, held=True)

    with pytest.raises(TransientError) as err:
        take_slot("ngsp:C0001", Budget.of(20, 0.1), 30, reserve=reserve,
                  blocked_until=lambda a: 1028.5, sleep=slept.append, clock=lambda: 0.0)
    assert err.value.retry_after == 28.5 and "ngsp:C0001" in str(err.value)
    assert slept == [] and asks == [MAX_HOLD_SLEEP_S]


def test_slots_caught_up_under_a_lower_quota_are_spread_out_before_a_raised_one_adds():
    """20/s caught up 20 slots in half a second; the quota raised to 25/s (the list knows
    20, fewer than 25): no window of 1.05 s holds more than 25."""
    low, high = Budget.of(20, 0.05), Budget.of(25, 0.05)
    granted = [1000.0 + i * low.catch_up for i in range(20)]  # newest last
    for _ in range(40):
        _grant(high, granted, granted[-1], 0.0)
    assert max_in_window(granted, high.window - 1e-9) <= 25
