"""The quota's arithmetic: when an account's next request may go (pure; both limiters use it,
the Redis script mirrors `next_slot` line for line).

A sliding-window log: each account keeps the times of its last `n` granted slots. A new
request gets the earliest time that is not before now, not inside a 429's hold, and at
least one window after the n-th last slot, so that no window ever holds more than `n`.
Slots are handed out in the order they are asked for (first come, first served) and may lie
in the future: the caller sleeps until its slot, outside any lock or transaction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from worker.domain.errors import TransientError


@dataclass(frozen=True)
class Budget:
    """At most `n` requests in any `window` seconds (one second, or more below 1 request/s,
    plus the margin against network jitter)."""

    n: int
    window: float

    @classmethod
    def of(cls, per_second: float, margin: float) -> Budget:
        """The budget of a quota. 2.5/s allows 2 in a second (never more than the quota);
        0.5/s allows 1 every 2 seconds."""
        if per_second <= 0:
            raise ValueError("quota must be > 0 requests per second")
        if per_second >= 1:
            return cls(math.floor(per_second), 1.0 + margin)
        return cls(1, 1.0 / per_second + margin)


def next_slot(slots: Sequence[float], now: float, blocked_until: float, budget: Budget) -> float:
    """The time the next request may go, given the last granted slots (oldest first)."""
    slot = max(now, blocked_until)
    if len(slots) >= budget.n:
        slot = max(slot, slots[-budget.n] + budget.window)
    return slot


def kept(slots: Sequence[float], slot: float, budget: Budget) -> list[float]:
    """The log after granting `slot`: only the last `n` matter."""
    return [*slots, slot][-budget.n:]


@dataclass(frozen=True)
class Reservation:
    """What a store answers: granted or not, the wait until the slot, the slot itself (in
    the store's clock)."""

    granted: bool
    wait: float
    slot: float


# reserve(account, budget, new request?, longest acceptable wait) -> Reservation
Reserve = Callable[[str, Budget, bool, float], Reservation]


def take_slot(account: str, budget: Budget, max_wait: float, *, reserve: Reserve,
              blocked_until: Callable[[str], float], sleep: Callable[[float], None]) -> float:
    """Reserve a slot, sleep until it, and return the seconds waited. A 429 that arrived
    while sleeping (the account's hold now reaches past the slot) sends the request back for
    a later slot instead of letting it go into the hold. Raises TransientError when the
    total wait would pass `max_wait`: the job is retried later instead of holding a worker."""
    waited = 0.0
    new = True
    while True:
        got = reserve(account, budget, new, max_wait - waited)
        if not got.granted:
            raise TransientError(
                f"hạn mức gọi bưu điện của tài khoản {account} đã kín: cần chờ "
                f"{waited + got.wait:.0f} giây, quá mức chờ {max_wait:.0f} giây",
                retry_after=got.wait)
        if got.wait <= 0:
            return waited
        sleep(got.wait)
        waited += got.wait
        if blocked_until(account) <= got.slot:
            return waited
        new = False
