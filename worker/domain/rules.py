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


def backoff_seconds(
    attempts: int, base: float, cap: float, retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with full jitter; never less than what the other side asked."""
    r = rng or random
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    wait = ceiling / 2 + r.uniform(0, ceiling / 2)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return min(wait, cap) if retry_after is None else max(min(wait, cap), retry_after)
