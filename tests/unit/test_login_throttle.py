"""Password guessing is slowed: five failures lock a username for a minute."""

from __future__ import annotations

from worker.web.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_lock_the_username_then_it_may_try_again():
    clock = Clock()
    t = LoginThrottle(max_failures=5, lock_seconds=60, clock=clock)
    for _ in range(4):
        t.failed("desk")
        assert t.wait_seconds("desk") == 0
    t.failed("DESK")  # the same username, whatever its case
    assert 59 < t.wait_seconds("desk") <= 60
    assert t.wait_seconds("ops") == 0  # others are not affected
    clock.now += 61
    assert t.wait_seconds("desk") == 0


def test_a_success_clears_the_count():
    t = LoginThrottle(max_failures=2, lock_seconds=60, clock=Clock())
    t.failed("desk")
    t.succeeded("desk")
    t.failed("desk")
    assert t.wait_seconds("desk") == 0
