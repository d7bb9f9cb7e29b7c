"""The quota's arithmetic: when an account's next request may go (pure; both limiters use it,
the Redis script mirrors `next_slot`).

The rule kept: no window of one second plus the margin ever holds more than the quota, the
window counted at the sender over the granted slots (the margin is the slack against the
network's and the scheduler's jitter, which can bunch requests at the post office). Each
request gets the earliest time that keeps it, is not before now, nor inside a 429's hold,
and is at least a spacing after the account's last granted slot.

The spacing: evenly spaced, one interval (the window divided by the quota) apart, until the
account's last `count` slots are known; then half that, so that a moment when no request
was ready (the worker's processes between two batches, say, which with one shared quota
they reach together) is caught up within the window instead of lost: an evenly spaced
account can never send more than it did not send. Catching up is still paced, never the
quota as one burst: requests that leave together compete for the CPU and the network and
reach the post office with uneven delays. Slots are handed out in the order they are asked
for (first come, first served) and may lie in the future: the caller sleeps until its
slot, outside any lock or transaction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from worker.domain.errors import TransientError


@dataclass(frozen=True)
class Budget:
    """An account's quota as the limiter spends it: at most `count` slots in any `window`
    seconds, `interval` (= window / count) apart while evenly spaced, `catch_up` apart when
    making up for a moment no request was ready."""

    interval: float
    window: float
    count: int

    @property
    def catch_up(self) -> float:
        return self.interval / CATCH_UP_SPEED

    @property
    def kept(self) -> int:
        """How many of the account's last slots the stores keep: `count`, or none above
        MAX_KEPT (evenly spaced, no catch-up)."""
        return self.count if self.count <= MAX_KEPT else 0

    @classmethod
    def of(cls, per_second: float, margin: float) -> Budget:
        """The spacing of a quota. 20/s: 20 in 1.1 s; 2.5/s allows 2 in a second, never 3
        (2 in 1.1 s); 0.5/s: one every 2.1 s."""
        if per_second <= 0:
            raise ValueError("quota must be > 0 requests per second")
        if per_second >= 1:
            count = math.floor(per_second)
            return cls((1.0 + margin) / count, 1.0 + margin, count)
        return cls(1.0 / per_second + margin, 1.0 / per_second + margin, 1)


# How much faster than evenly spaced an account catches up on slots it left unused.
CATCH_UP_SPEED = 2.0

# Above this quota an account is evenly spaced, without catching up: its last `count` slots
# would be read and written on every reservation (the database limiter's JSON of 10,000
# floats cost benchmark 2's embedded run, quota 10,000/s, 195.6 -> 169.0 hand-offs/s), and
# a quota this large is past what one deployment's worker sends (bench/RESULTS.md).
MAX_KEPT = 1000


def next_slot(last: float, now: float, blocked_until: float, budget: Budget,
              recent: Sequence[float] = ()) -> float:
    """The time the next request may go, given the account's last granted slot and its
    `recent` slots, newest first (those beyond `budget.kept` are not looked at).

    With `count` known, the window decides, and the spacing may be the catch-up one. With
    fewer (a new account, or its quota just raised), evenly spaced, and no sooner than the
    oldest known plus one interval for each known: a fresh account's known slots are evenly
    spaced already, while slots caught up under a lower quota are spread out again before
    the new one adds to them (20 caught up in half a second, then the quota raised to 25:
    not 13 more in that window)."""
    known = min(len(recent), budget.kept)
    if known >= budget.count:
        return max(now, blocked_until, last + budget.catch_up, recent[known - 1] + budget.window)
    floor = recent[known - 1] + known * budget.interval if known else -math.inf
    return max(now, blocked_until, last + budget.interval, floor)


# The longest a request sleeps in its worker slot for a hold (a 429's or a 503's
# Retry-After). A longer hold refuses the request at once (no slot taken): the ledger
# reschedules the row past the hold and the process serves the other accounts meanwhile,
# instead of sleeping up to the maximum wait while their rows queue behind it.
MAX_HOLD_SLEEP_S = 1.0


def hold_left(now: float, blocked_until: float, max_hold: float) -> float:
    """The seconds of the account's hold still to run when that is more than `max_hold`
    (the request is refused), else 0.0 (a short hold is waited out like pacing)."""
    left = blocked_until - now
    return left if left > max_hold else 0.0


@dataclass(frozen=True)
class Reservation:
    """What a store answers: granted or not, the wait until the slot, the slot itself (in
    the store's clock), and when the store's clock was read, on this process's monotonic
    clock: the caller sleeps until `seen_at + wait`, so the time spent committing or
    carrying the answer back is not added to the wait (it would differ from one request to
    the next and bunch them up at the post office)."""

    granted: bool
    wait: float
    slot: float
    seen_at: float
    held: bool = False  # refused for a hold longer than the longest hold slept (`hold_left`)


# reserve(account, budget, new request?, longest acceptable wait, longest hold slept)
Reserve = Callable[[str, Budget, bool, float, float], Reservation]

# A sleeping request looks for a new 429 hold this long before its slot, so that the look
# (a read of the shared store, slower when the store is busy) does not delay the request
# itself: a request late by a varying amount would bunch up with the next ones.
LOOK_AHEAD_S = 0.1


def take_slot(account: str, budget: Budget, max_wait: float, *, reserve: Reserve,
              blocked_until: Callable[[str], float], sleep: Callable[[float], None],
              clock: Callable[[], float], max_hold: float = MAX_HOLD_SLEEP_S) -> float:
    """Reserve a slot, sleep until it (`clock` is the monotonic clock of `seen_at`), and
    return the seconds waited. A 429 that arrived while sleeping (the account's hold now
    reaches past the slot) sends the request back for a later slot instead of letting it go
    into the hold. Raises TransientError (retry_after: the wait) when the account is held
    longer than `max_hold`, at once, or when the total wait would pass `max_wait`: the job
    is retried later instead of holding a worker."""
    waited = 0.0
    new = True
    while True:
        got = reserve(account, budget, new, max_wait - waited, max_hold)
        if got.held:
            raise TransientError(
                f"bưu điện yêu cầu tạm ngừng gửi với tài khoản {account}: còn "
                f"{got.wait:.0f} giây nữa mới gửi lại", retry_after=got.wait)
        if not got.granted:
            raise TransientError(
                f"hạn mức gọi bưu điện của tài khoản {account} đã kín: cần chờ "
                f"{waited + got.wait:.0f} giây, quá mức chờ {max_wait:.0f} giây",
                retry_after=got.wait)
        if got.wait <= 0:
            return waited
        deadline = got.seen_at + got.wait
        _sleep_until(deadline - LOOK_AHEAD_S, sleep, clock)
        waited += got.wait
        if blocked_until(account) <= got.slot:
            _sleep_until(deadline, sleep, clock)
            return waited
        new = False


def _sleep_until(moment: float, sleep: Callable[[float], None],
                 clock: Callable[[], float]) -> None:
    left = moment - clock()
    if left > 0:
        sleep(left)
