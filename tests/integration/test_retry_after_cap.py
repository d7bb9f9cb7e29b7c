"""A 429's Retry-After holds the account in the shared quota store (every process obeys
it), so an absurd one from a carrier bug is capped: the account is held at most
MAX_THROTTLE_S, and the TransientError says the same wait. A 503 with Retry-After (the post
office down for a while) holds the account the same way, without the short retries of a
burst. Against the carrier simulator, whose quota admin throttles one account with a chosen
Retry-After, or plays the whole post office down (`outage`)."""

from __future__ import annotations

import logging
import time

import pytest
from tenacity import wait_none

from integrations.carriers.vnpost.gateway import MAX_THROTTLE_S
from integrations.carriers.vnpost.routes.ngsp import NgspClient
from simulators.carrier.app import SimConfig, serve_in_thread
from tests.integration.test_carrier_client import make_order
from worker.domain.enums import Route
from worker.domain.errors import TransientError
from worker.domain.model import CarrierAccount
from worker.ports.quota import AccountUsage
from worker.service.agencies.quota import DatabaseBucket

KEY, SECRET, CUSTOMER = "demo-key", "demo-secret", "C0001"
ACCOUNT = CarrierAccount(Route.NGSP, CUSTOMER, KEY, SECRET, quota_per_second=5)


class RecordingLimiter:
    """A RateLimiter that never waits and records the seconds of every hold."""

    def __init__(self) -> None:
        self.throttles: list[tuple[str, float]] = []

    def acquire(self, account: str, per_second: float, *, max_wait: float | None = None
                ) -> float:
        return 0.0

    def throttled(self, account: str, retry_after: float) -> None:
        self.throttles.append((account, retry_after))

    def usage(self) -> list[AccountUsage]:
        return []


@pytest.fixture(scope="module")
def sim():
    base_url, stop = serve_in_thread(SimConfig(seed=7, return_rate=0.0, pickup_fail_rate=0.0))
    yield base_url
    stop()


@pytest.mark.parametrize(("asked", "held"), [
    (86_400_000, MAX_THROTTLE_S),  # a carrier bug: about 1000 days
    (30, 30.0),  # a sane wait passes unchanged
])
def test_a_429_holds_the_account_at_most_the_cap(sim, admin, caplog, asked: int,
                                                 held: float) -> None:
    limiter = RecordingLimiter()
    client = NgspClient(sim, ACCOUNT, limiter=limiter, wait=wait_none())
    try:
        client.fetch_events(None)  # the token first: the hold below refuses token requests too
        admin("_admin/quota", {"throttle": {KEY: {"seconds": 30, "retry_after": asked}}})
        with caplog.at_level(logging.WARNING, logger="integrations.carriers.vnpost.gateway"), \
                pytest.raises(TransientError) as info:
            client.post_order(make_order())
    finally:
        client.close()
    assert limiter.throttles == [(ACCOUNT.key, held)]
    assert info.value.retry_after == held
    assert admin("_admin/quota")["accounts"][KEY]["throttled"] == 1  # the 429 was real
    capped = [r for r in caplog.records if "Retry-After" in r.getMessage()]
    assert len(capped) == (1 if asked > MAX_THROTTLE_S else 0)


@pytest.mark.parametrize("asked", [30, 86_400_000])
def test_a_503_with_retry_after_holds_the_account_without_short_retries(sim, admin,
                                                                        asked: int) -> None:
    limiter = RecordingLimiter()
    client = NgspClient(sim, ACCOUNT, limiter=limiter, wait=wait_none())  # 3 attempts
    try:
        client.fetch_events(None)  # the token first
        admin("_admin/quota", {"outage": {"seconds": 30, "retry_after": asked}})
        with pytest.raises(TransientError) as info:
            client.post_order(make_order())
    finally:
        client.close()
    held = min(asked, MAX_THROTTLE_S)
    assert limiter.throttles == [(ACCOUNT.key, held)]
    assert info.value.retry_after == held and "HTTP 503" in str(info.value)
    seen = admin("_admin/quota")["accounts"][KEY]
    assert seen["unavailable"] == 1 and seen["early"] == 0  # one request, not three


def test_a_503_without_retry_after_is_still_a_burst_retried_inline(sim, admin) -> None:
    limiter = RecordingLimiter()
    client = NgspClient(sim, ACCOUNT, limiter=limiter, wait=wait_none())
    try:
        client.fetch_events(None)
        admin("_admin/faults", {"fail_next": 3})
        with pytest.raises(TransientError) as info:
            client.post_order(make_order())
    finally:
        client.close()
    assert "3 lần thử" in str(info.value) and info.value.retry_after is None
    assert limiter.throttles == []


def test_a_503_hold_refuses_every_client_of_the_account_at_once(sim, admin, sqlite_db) -> None:
    """Two clients (two processes in production) share the limiter's store: after one met
    the outage's 503, the other's request does not reach the post office nor sleep in its
    worker slot: it is a TransientError at once, with what is left of the Retry-After."""
    clients = [NgspClient(sim, ACCOUNT, limiter=DatabaseBucket(sqlite_db, max_wait=30,
                                                               margin=0.1), wait=wait_none())
               for _ in range(2)]
    try:
        clients[0].fetch_events(None)  # the token first (cached per client)
        clients[1].fetch_events(None)
        admin("_admin/quota", {"outage": {"seconds": 30, "retry_after": 30}})
        with pytest.raises(TransientError):
            clients[0].post_order(make_order())
        started = time.monotonic()
        with pytest.raises(TransientError) as info:
            clients[1].post_order(make_order(2))
        # (refused at once: far below the 30 s a sleep in the slot would take, on a loaded machine)
        assert time.monotonic() - started < 10
    finally:
        for client in clients:
            client.close()
    assert info.value.retry_after is not None and 29 <= info.value.retry_after <= 30
    seen = admin("_admin/quota")["accounts"][KEY]
    assert seen["unavailable"] == 1 and seen["early"] == 0
