"""Route A (NgspClient) against the carrier simulator served by uvicorn on
loopback; the plumbing both routes share (quota, token cache, retries) is proved here."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import httpx
import pytest
from tenacity import wait_none

from integrations.carriers.vnpost import s10
from integrations.carriers.vnpost.gateway import RESEND_WAIT_S
from integrations.carriers.vnpost.routes.ngsp import NgspClient
from simulators.carrier.app import SimConfig, serve_in_thread
from worker.domain.enums import Route
from worker.domain.errors import PermanentError, TransientError
from worker.domain.model import Address, CarrierAccount, CarrierOrder, Contact
from worker.domain.statuses import Direction, Status
from worker.ports.quota import AccountUsage

# with the carrier areas the area table gives them (here: the placeholders)
AGENCY = Contact("Bộ phận Một cửa", "02773000000",
                 Address("Trung tâm PVHCC", "82", "30226", carrier_area=(82, 82098)))
CITIZEN = Contact("Nguyễn Thị Hồng", "0912345678",
                  Address("Số 12 Hàng Bài", "1", "70", carrier_area=(1, 1004)))
SECRET = "demo-secret"


def vnpost(base_url: str, customer_key: str, secret_key: str, customer_code: str,
           **kwargs) -> NgspClient:
    """Route A's client for one account given as loose credentials."""
    account = CarrierAccount(Route.NGSP, customer_code, customer_key, secret_key)
    return NgspClient(base_url, account, **kwargs)


def make_order(n: int = 1, citizen: Contact = CITIZEN) -> CarrierOrder:
    return CarrierOrder(
        f"000.00.17.H19-201126-{n:04d}/R1",
        Direction.RESULT_DELIVERY,
        AGENCY,
        citizen,
        description="Trả kết quả",
    )


@pytest.fixture(scope="module")
def sim():
    base_url, stop = serve_in_thread(SimConfig(seed=7, return_rate=0.0, pickup_fail_rate=0.0))
    yield base_url
    stop()


@pytest.fixture
def client(sim, admin):
    c = vnpost(sim, "demo-key", SECRET, "C0001", timeout=2.0, wait=wait_none())
    yield c
    c.close()


def test_retried_post_is_recognised_as_already_existing(client, admin):
    assert client.post_order(make_order()).already_existed is False
    assert client.post_order(make_order()).already_existed is True
    stats = admin("_admin/stats")
    assert (stats["orders"], stats["posts"], stats["repeat_posts"], stats["duplicates"]) == (
        1,
        2,
        1,
        0,
    )


def test_lost_reply_then_retry_creates_exactly_one_order(sim, admin):
    admin("_admin/faults", {"lose_first_reply": True})
    once = vnpost(sim, "demo-key", SECRET, "C0001", attempts=1, wait=wait_none())
    with pytest.raises(TransientError):
        once.post_order(make_order())
    assert once.post_order(make_order()).already_existed is True
    # With the client's own short retries the caller never even sees the lost reply.
    retrying = vnpost(sim, "demo-key", SECRET, "C0001", wait=wait_none())
    assert retrying.post_order(make_order(2)).already_existed is True
    stats = admin("_admin/stats")
    assert stats["orders"] == 2 and stats["duplicates"] == 0
    assert all(o["created"] == 1 for o in stats["orders_by_number"].values())


def test_token_is_cached_across_posts(client, admin):
    for n in range(20):
        client.post_order(make_order(n))
    assert client.token_requests == 1
    assert admin("_admin/stats")["token_requests"] == 1


def test_concurrent_first_calls_share_one_token(client, admin):
    errors: list[Exception] = []

    def post(n: int) -> None:
        try:
            client.post_order(make_order(n))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and client.token_requests == 1


def test_revoked_token_gets_401_then_one_refresh_and_success(client, admin):
    client.post_order(make_order(1))
    admin("_admin/revoke-tokens", {})
    assert client.post_order(make_order(2)).already_existed is False
    assert client.token_requests == 2
    assert admin("_admin/stats")["orders"] == 2


def test_token_refreshed_shortly_before_expiry(sim, admin):
    now = [1000.0]
    c = vnpost(sim, "demo-key", SECRET, "C0001", clock=lambda: now[0], wait=wait_none())
    c.fetch_events(None, 10)
    now[0] += 3600 - 61  # still inside the window
    c.fetch_events(None, 10)
    assert c.token_requests == 1
    now[0] += 2  # within 60 s of expiry: refresh before the server says 401
    c.fetch_events(None, 10)
    assert c.token_requests == 2


def test_401_after_refresh_is_transient(client, admin):
    admin("_admin/faults", {"token_ttl": 0})  # every token is born expired
    with pytest.raises(TransientError) as info:
        client.fetch_events(None)
    assert "401" in str(info.value) and client.token_requests == 2


def test_wrong_credentials_are_permanent(sim, admin):
    c = vnpost(sim, "demo-key", "wrong", "C0001", wait=wait_none())
    with pytest.raises(PermanentError):
        c.fetch_events(None)


def test_short_5xx_burst_is_retried_inside_the_client(client, admin):
    client.fetch_events(None)  # token first
    admin("_admin/faults", {"fail_next": 2})
    assert client.post_order(make_order()).already_existed is False
    admin("_admin/faults", {"fail_next": 3})
    with pytest.raises(TransientError) as info:
        client.post_order(make_order(2))
    assert "3 lần thử" in str(info.value)
    stats = admin("_admin/stats")
    assert stats["posts"] == 1 and stats["errors_injected"] == 5


def test_a_429_of_a_short_hold_is_sent_again_once_after_it(client, admin):
    """The post office's window overrun (429, Retry-After 1): the post goes again once the
    hold is over, never inside it; a second 429 goes back to the ledger with its wait."""
    client.fetch_events(None)
    admin("_admin/faults", {"rate_limit_per_s": 1})
    client.fetch_events(None)
    started = time.monotonic()
    assert client.post_order(make_order()).already_existed is False
    assert time.monotonic() - started >= 1.0  # the hold waited out
    stats = admin("_admin/stats")
    assert stats["posts"] == 1 and stats["throttled"] == 1
    admin("_admin/quota", {"throttle": {"demo-key": {"seconds": 30, "retry_after": 1}}})
    with pytest.raises(TransientError) as info:
        client.post_order(make_order(2))
    held = admin("_admin/quota")["accounts"]["demo-key"]
    admin("_admin/quota", {"throttle": {"demo-key": None}})
    assert info.value.retry_after == 1.0
    assert (held["throttled"], held["early"]) == (2, 0)  # the first and the one sent again


def test_a_429_of_a_longer_hold_is_not_retried_and_carries_retry_after(client, admin):
    client.fetch_events(None)
    admin("_admin/quota", {"throttle": {"demo-key": {"seconds": 30, "retry_after": 5}}})
    with pytest.raises(TransientError) as info:
        client.post_order(make_order())
    held = admin("_admin/quota")["accounts"]["demo-key"]
    admin("_admin/quota", {"throttle": {"demo-key": None}})
    assert info.value.retry_after == 5.0
    assert admin("_admin/stats")["posts"] == 0
    assert held["throttled"] == 1  # one 429, no retry inside


def test_timeouts_become_transient(sim, admin):
    admin("_admin/faults", {"timeout_rate": 1.0, "timeout_sleep_s": 1.0})
    c = vnpost(sim, "demo-key", SECRET, "C0001", timeout=0.2, attempts=2, wait=wait_none())
    with pytest.raises(TransientError) as info:
        c.fetch_events(None)
    assert "không trả lời kịp" in str(info.value)


def test_unreachable_carrier_is_transient():
    c = vnpost("http://127.0.0.1:9/", "k", "s", "C0001", timeout=0.5, wait=wait_none())
    with pytest.raises(TransientError):
        c.fetch_events(None)
    c.close()


def test_rejected_order_is_permanent_and_not_retried(client, admin, caplog):
    bad = replace(CITIZEN, phone="12")
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentError) as info:
        client.post_order(make_order(citizen=bad))
    assert info.value.code == "102" and "ReceiverTel" in info.value.reason
    assert admin("_admin/stats")["posts"] == 1
    for secret in ("Nguyễn", "0912345678", "Hàng Bài", SECRET):
        assert secret not in caplog.text


def test_feed_pages_through_events_after_the_clock_moves(client, admin):
    client.post_order(make_order(1))
    client.post_order(make_order(2))
    assert client.fetch_events(None).events == []
    admin("_admin/advance", {"seconds": 20 * 3600})
    events, cursor, pages = [], None, 0
    while True:
        page = client.fetch_events(cursor, page_size=2)
        if not page.events:
            assert page.last_id == cursor
            break
        assert len(page.events) <= 2
        events += page.events
        cursor, pages = page.last_id, pages + 1
    assert pages == 5 and len(events) == 10
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)
    numbers = {e.order_number for e in events}
    assert len(numbers) == 2
    for number in numbers:
        codes = [e.raw_code for e in events if e.order_number == number]
        assert codes == [1, 2, 10, 3, 5]
    assert all(s10.is_valid_s10(e.item_code or "") for e in events)
    assert events[-1].status == Status.DELIVERED
    assert all(e.occurred_at.tzinfo is not None for e in events)


def test_feed_faults_duplicates_and_unknown_codes(client, admin):
    admin("_admin/faults", {"duplicate_event_rate": 1.0, "unknown_code_rate": 1.0})
    client.post_order(make_order())
    admin("_admin/advance", {"seconds": 2 * 3600})
    page = client.fetch_events(None)
    codes = [e.raw_code for e in page.events]
    assert codes == [1, 1, 99]
    assert page.events[0].dedup_key == page.events[1].dedup_key
    assert page.events[0].event_id != page.events[1].event_id
    assert page.events[2].known_code is False and page.events[2].status is None


def test_cancel_before_pickup_stops_the_order(client, admin):
    order = make_order()
    client.post_order(order)
    assert client.cancel_order(order.order_number)
    admin("_admin/advance", {"seconds": 20 * 3600})
    assert client.fetch_events(None).events == []
    assert admin("_admin/stats")["cancelled"] == 1


def test_cancel_after_pickup_is_refused(client, admin):
    order = make_order()
    client.post_order(order)
    admin("_admin/advance", {"seconds": 2 * 3600})
    with pytest.raises(PermanentError) as info:
        client.cancel_order(order.order_number)
    assert info.value.code == "104"
    view = admin(f"_admin/orders/{order.order_number}")
    assert view["cancelled"] is False and view["item_code"]


def test_speed_runs_the_clock_faster(client, admin):
    admin("_admin/faults", {"speed": 36000.0})  # 10 simulated hours per real second
    client.post_order(make_order())
    time.sleep(0.4)
    assert [e.raw_code for e in client.fetch_events(None).events][:1] == [1]


def test_admin_rejects_unknown_fault_keys(sim, admin):
    response = httpx.post(f"{sim}_admin/faults", json={"no_such_knob": 1})
    assert response.status_code == 400
    assert admin("_admin/faults")["error_rate"] == 0.0
    assert httpx.get(f"{sim}healthz").json() == {"ok": True}


class CountingLimiter:
    """A RateLimiter that never waits and remembers every call."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, float]] = []
        self.throttles: list[tuple[str, float]] = []
        self.max_waits: list[float | None] = []

    def acquire(self, account: str, per_second: float, *, max_wait: float | None = None
                ) -> float:
        self.acquired.append((account, per_second))
        self.max_waits.append(max_wait)
        return 0.0

    def throttled(self, account: str, retry_after: float) -> None:
        self.throttles.append((account, retry_after))

    def usage(self) -> list[AccountUsage]:
        return []


def test_quota_is_taken_before_every_request_and_a_429_holds_the_account(sim, admin):
    limiter = CountingLimiter()
    account = CarrierAccount(Route.NGSP, "C0001", "demo-key", SECRET, quota_per_second=5)
    c = NgspClient(sim, account, limiter=limiter, wait=wait_none())
    c.fetch_events(None)  # the token request, then the page
    assert limiter.acquired == [("ngsp:C0001", 5)] * 2
    admin("_admin/revoke-tokens", {})
    c.fetch_events(None)  # 401, a new token, the page again
    assert len(limiter.acquired) == 5 and limiter.throttles == []
    admin("_admin/quota", {"throttle": {"demo-key": {"seconds": 30, "retry_after": 5}}})
    with pytest.raises(TransientError) as info:
        c.post_order(make_order())
    admin("_admin/quota", {"throttle": {"demo-key": None}})
    assert len(limiter.acquired) == 6
    assert limiter.throttles == [("ngsp:C0001", 5.0)] and info.value.retry_after == 5.0
    assert admin("_admin/stats")["token_requests"] == 2
    c.close()


def test_a_request_sent_again_after_a_short_hold_takes_its_slot_with_a_short_wait(sim, admin):
    limiter = CountingLimiter()
    account = CarrierAccount(Route.NGSP, "C0001", "demo-key", SECRET, quota_per_second=5)
    c = NgspClient(sim, account, limiter=limiter, wait=wait_none())
    c.fetch_events(None)  # the token, then the page
    admin("_admin/faults", {"rate_limit_per_s": 1})
    c.fetch_events(None)
    assert c.post_order(make_order()).already_existed is False  # 429, then sent again
    assert limiter.throttles == [("ngsp:C0001", 1.0)]
    assert limiter.max_waits == [None, None, None, None, RESEND_WAIT_S]
    c.close()


def test_repr_shows_the_account_never_its_secrets(sim):
    account = CarrierAccount(Route.NGSP, "C0001", "key-MARKER", "secret-MARKER")
    shown = repr(NgspClient(f"http://user:pw-MARKER@{sim[7:]}", account))
    assert "ngsp:C0001" in shown and "MARKER" not in shown
