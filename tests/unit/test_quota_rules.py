"""The quota's arithmetic (worker/domain/quota.py): whatever the arrival times, holds and
quotas, the granted slots never put more than the budget in any window, and come out in
the order they were asked for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.quota_windows import max_in_window
from worker.domain.errors import TransientError
from worker.domain.quota import Budget, Reservation, kept, next_slot, take_slot


@pytest.mark.parametrize(("per_second", "n", "window"), [
    (20, 20, 1.1), (20.9, 20, 1.1), (2.5, 2, 1.1), (1, 1, 1.1), (0.5, 1, 2.1), (0.25, 1, 4.1)])
def test_budget_never_rounds_the_quota_up(per_second, n, window):
    budget = Budget.of(per_second, 0.1)
    assert budget.n == n and budget.window == pytest.approx(window)


def test_no_quota_is_refused():
    with pytest.raises(ValueError):
        Budget.of(0, 0.1)


@given(per_second=st.floats(0.2, 50), margin=st.floats(0, 0.5),
       gaps=st.lists(st.floats(0, 0.3), min_size=1, max_size=80),
       holds=st.dictionaries(st.integers(0, 79), st.floats(0, 3), max_size=3))
def test_granted_slots_keep_the_budget_in_every_window(per_second, margin, gaps, holds):
    budget = Budget.of(per_second, margin)
    slots: list[float] = []
    granted: list[float] = []
    now, blocked = 1000.0, 0.0
    for i, gap in enumerate(gaps):
        now += gap
        if i in holds:
            blocked = max(blocked, now + holds[i])
        slot = next_slot(slots, now, blocked, budget)
        assert slot >= max(now, blocked)
        slots = kept(slots, slot, budget)
        granted.append(slot)
    assert granted == sorted(granted)  # first come, first served
    assert len(slots) <= budget.n
    assert max_in_window(granted, budget.window - 1e-6) <= budget.n  # less float noise
    assert max_in_window(granted, 1.0) <= max(1, int(per_second))


def test_a_refused_reservation_is_a_transient_error_with_the_wait():
    def reserve(account: str, budget: Budget, new: bool, max_wait: float) -> Reservation:
        return Reservation(False, 42.0, 1042.0)

    with pytest.raises(TransientError) as err:
        take_slot("ngsp:C0001", Budget.of(20, 0.1), 30, reserve=reserve,
                  blocked_until=lambda a: 0.0, sleep=lambda s: None)
    assert err.value.retry_after == 42.0 and "ngsp:C0001" in str(err.value)


def test_a_hold_that_began_during_the_sleep_takes_a_later_slot_counted_once():
    asks: list[tuple[bool, float]] = []
    answers = iter([Reservation(True, 1.0, 101.0), Reservation(True, 2.0, 103.0)])
    holds = iter([102.5, 102.5])
    slept: list[float] = []

    def reserve(account: str, budget: Budget, new: bool, max_wait: float) -> Reservation:
        asks.append((new, max_wait))
        return next(answers)

    waited = take_slot("ngsp:C0001", Budget.of(1, 0.0), 30, reserve=reserve,
                       blocked_until=lambda a: next(holds), sleep=slept.append)
    assert waited == 3.0 and slept == [1.0, 2.0]
    assert asks == [(True, 30), (False, 29.0)]  # a new request once; the rest of the budget
