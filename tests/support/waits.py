"""Waiting for something to become true, with a bound, and saying what was seen when not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, timeout: float = 60, every: float = 0.5,
             seen: Callable[[], Any] | None = None) -> T:
    """Poll check() until it is truthy and return its value; past `timeout` seconds fail
    naming `what`, with the last value and whatever `seen()` tells (logs, counts)."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(every)
    more = f"; {seen()}" if seen is not None else ""
    raise AssertionError(f"timed out waiting for {what} (last: {last!r}){more}")


def log_tails(home: Any, names: tuple[str, ...] = ("worker", "beat", "web"),
              chars: int = 3000) -> dict[str, str]:
    """The last `chars` characters of each process log a Stack wrote under `home`."""
    return {n: (home / f"{n}.log").read_text(errors="replace")[-chars:]
            for n in names if (home / f"{n}.log").exists()}
