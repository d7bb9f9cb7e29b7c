"""Counting requests in sliding windows (the quota tests' yardstick, as the carrier
simulator's meter counts them)."""

from __future__ import annotations


def busiest_window(times: list[float], window: float = 1.0) -> tuple[int, list[float]]:
    """The most times that fall in any half-open window of `window` seconds, and those
    times (sorted; the first such window)."""
    times, best, first, start = sorted(times), 0, 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        if end - start + 1 > best:
            best, first = end - start + 1, start
    return best, times[first:first + best]


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most times that fall in any half-open window of `window` seconds."""
    return busiest_window(times, window)[0]
