"""Counting requests in sliding windows (the quota tests' yardstick)."""

from __future__ import annotations


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most times that fall in any half-open window of `window` seconds."""
    times, best, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best
