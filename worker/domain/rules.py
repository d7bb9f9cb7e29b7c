"""Hand-off rules: order numbers, stable event ids, retry backoff. Pure functions."""

from __future__ import annotations

import hashlib
import random

from worker.domain.statuses import Direction

_DIRECTION_LETTER = {Direction.RESULT_DELIVERY: "R", Direction.PICKUP: "P"}
MAX_ORDER_NUMBER = 50


def order_number(dossier_code: str, direction: Direction, generation: int = 1) -> str:
    """The carrier idempotency key: dossier code + direction letter + generation.

    The same hand-off always yields the same number, so a post retried after a lost reply
    is answered 101 (already exists) instead of sending a second courier. A new generation
    is used only when a cancelled hand-off is requested again.
    """
    suffix = f"/{_DIRECTION_LETTER[Direction(direction)]}{generation}"
    if len(dossier_code) + len(suffix) <= MAX_ORDER_NUMBER:
        return dossier_code + suffix
    digest = hashlib.sha256(dossier_code.encode()).hexdigest()[:10]
    head = dossier_code[: MAX_ORDER_NUMBER - len(suffix) - 11]
    return f"{head}~{digest}{suffix}"


def push_event_id(order_or_handoff_key: str, dedup_key: str) -> str:
    """Stable eventId for a push-back: the same status change always gets the same id."""
    digest = hashlib.sha256(f"{order_or_handoff_key}#{dedup_key}".encode()).hexdigest()[:24]
    return f"pev_{digest}"


# Rows refused together with one Retry-After must not all come back in the same second (a
# herd at the post office the moment it reopens): each waits Retry-After plus a random share
# of one more Retry-After (at least up to 1 s, at most up to 10 s). Never earlier. A smaller
# share is not enough: the first row back after a hold meets the next 503 and its new hold,
# so the rest bunch again at each hold's end (chaos scenario 5 measured 90 % of the retried
# posts in one second with a 20 % share on a 5 s Retry-After).
RETRY_AFTER_SPREAD = 1.0
RETRY_AFTER_SPREAD_MIN_S, RETRY_AFTER_SPREAD_MAX_S = 1.0, 10.0


def retry_after_spread(retry_after: float) -> float:
    """The most seconds added on top of a Retry-After (the jitter's upper bound)."""
    return min(max(retry_after * RETRY_AFTER_SPREAD, RETRY_AFTER_SPREAD_MIN_S),
               RETRY_AFTER_SPREAD_MAX_S)


def backoff_seconds(
    attempts: int, base: float, cap: float, retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with full jitter, at most `cap`; with a Retry-After, never less
    than it, plus a small jitter (`retry_after_spread`) so rows refused together spread out."""
    r = rng or random
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    wait = min(ceiling / 2 + r.uniform(0, ceiling / 2), cap)
    if retry_after is None:
        return wait
    asked = max(0.0, retry_after)
    return max(wait, asked + r.uniform(0, retry_after_spread(asked)))
