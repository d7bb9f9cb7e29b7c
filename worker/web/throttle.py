"""Slows down password guessing: after a few failed logins a username waits a while.

Kept in the web process's memory (per process): enough to stop a script trying thousands of
passwords through one web process; a deployment with several web processes multiplies the
allowance by their number, which is still far from a practical guessing rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_FAILURES = 5
LOCK_SECONDS = 60.0


class LoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, lock_seconds: float = LOCK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.lock_seconds, self.clock = max_failures, lock_seconds, clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, username: str) -> float:
        """How long this username must wait before trying again (0 when it may try)."""
        with self._lock:
            count, since = self._failures.get(username.casefold(), (0, 0.0))
            if count < self.max_failures:
                return 0.0
            left = since + self.lock_seconds - self.clock()
            if left <= 0:
                self._failures.pop(username.casefold(), None)
                return 0.0
            return left

    def failed(self, username: str) -> None:
        with self._lock:
            count, _ = self._failures.get(username.casefold(), (0, 0.0))
            self._failures[username.casefold()] = (count + 1, self.clock())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username.casefold(), None)
