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
# herd at the post office the moment it reopens): each waits the Retry-After plus a random
# 0-10 s, never earlier. The window is the same whatever the Retry-After, because the rows
# of a held account are refused with what is left of the hold (worker/domain/quota.py), not
# with the post office's Retry-After: a window in proportion to the Retry-After (one more of
# it, 1-10 s) gave a row refused 1 s before the hold's end 1 s of jitter and one refused 4 s
# before it 4 s, so the rows refused late in a hold all came back within a second or two of
# its end (chaos scenario 5: 31-45 % of the retried posts in one second after a 5 s hold,
# every row refused with 1-2 s left among them). One window puts every row of one hold,
# whenever it was refused, uniformly over the same 10 s after its end; 10 s was already the
# window of every Retry-After of 10 s or more. (A smaller share bunched them worse still:
# 90 % in one second with 20 % of a 5 s Retry-After.)
RETRY_AFTER_SPREAD_S = 10.0


def backoff_seconds(
    attempts: int, base: float, cap: float, retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with full jitter, at most `cap`; with a Retry-After, never less
    than it, plus a jitter of up to RETRY_AFTER_SPREAD_S so rows refused together spread out."""
    r = rng or random
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    wait = min(ceiling / 2 + r.uniform(0, ceiling / 2), cap)
    if retry_after is None:
        return wait
    asked = max(0.0, retry_after)
    return max(wait, asked + r.uniform(0, RETRY_AFTER_SPREAD_S))
