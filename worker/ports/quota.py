"""The quota port: one request budget per post-office account, shared by every process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AccountUsage:
    """What /metrics shows of one account: counters since the bucket was created."""

    account: str  # CarrierAccount.key
    requests: int  # requests let through
    waited_seconds: float  # total time requests waited for the bucket
    waits: int  # requests that had to wait at all
    throttled: int  # HTTP 429 answers seen


class RateLimiter(Protocol):
    """A shared token bucket per account. Every HTTP request to the carrier (token requests
    included) takes one token first; all processes of the deployment share the bucket."""

    def acquire(self, account: str, per_second: float, *, max_wait: float | None = None
                ) -> float:
        """Block until a request of `account` may go so that no one-second window holds
        more than `per_second` of its requests; returns the seconds waited. Raises
        TransientError (with retry_after) instead of waiting longer than the limiter's
        maximum wait (or `max_wait`, when that is shorter), and at once, without a slot,
        while the account is held (`throttled`) longer than the limiter's longest hold
        slept (about a second)."""
        ...

    def throttled(self, account: str, retry_after: float) -> None:
        """The carrier answered 429 (or a 5xx with Retry-After): hold this account's
        requests (only this account's) for `retry_after` seconds."""
        ...

    def usage(self) -> list[AccountUsage]: ...


class NoLimit:
    """A limiter that never waits (unit tests of one adapter; never in production)."""

    def acquire(self, account: str, per_second: float, *, max_wait: float | None = None
                ) -> float:
        return 0.0

    def throttled(self, account: str, retry_after: float) -> None:
        return None

    def usage(self) -> list[AccountUsage]:
        return []
