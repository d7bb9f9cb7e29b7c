"""OnestopClient against a live one-stop simulator on loopback (real HTTP, real uvicorn)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from tenacity import wait_none

from integrations.onestop.client import OnestopClient
from simulators.onestop.app import serve_in_thread
from worker.domain.errors import NotFound, PermanentError, TransientError
from worker.domain.model import HandoffItem, RefusedItem, StatusPush
from worker.domain.statuses import Direction, Status

API_KEY = "test-onestop-key"


@pytest.fixture(scope="module")
def sim_url():
    url, stop = serve_in_thread({"api_key": API_KEY, "seed": 7})
    yield url
    stop()


@pytest.fixture
def admin(sim_url):
    with httpx.Client(base_url=sim_url, timeout=5) as http:
        http.post("/_admin/reset").raise_for_status()
        yield http


@pytest.fixture
def client(sim_url, admin):
    with OnestopClient(sim_url, API_KEY, timeout=5, wait=wait_none()) as c:
        yield c


def add(admin, count=1, **extra):
    reply = admin.post("/_admin/handoffs", json={"count": count, **extra})
    reply.raise_for_status()
    return reply.json()["items"]


def push_for(code, event_id="pev_1", status=Status.DELIVERED):
    return StatusPush(event_id=event_id, dossier_code=code, direction=Direction.RESULT_DELIVERY,
                      status=status, item_code="EB123456785VN", carrier_code=5,
                      carrier_text="Phát thành công", occurred_at=datetime.now(UTC))


def test_feed_pages_with_cursor_until_nothing_new(client, admin):
    items = add(admin, 5, type="pickup_requested")
    first = client.fetch_handoffs(None, limit=2)
    assert [i.item_id for i in first.items] == [i["id"] for i in items[:2]]
    second = client.fetch_handoffs(first.next_cursor, limit=2)
    third = client.fetch_handoffs(second.next_cursor, limit=2)
    assert [i.item_id for i in second.items + third.items] == [i["id"] for i in items[2:]]
    empty = client.fetch_handoffs(third.next_cursor, limit=2)
    assert empty.items == [] and empty.next_cursor == third.next_cursor
    parsed = [i.read for i in first.items + second.items + third.items]
    assert all(isinstance(p, HandoffItem) and p.citizen and p.citizen.name for p in parsed)


def test_invalid_items_are_served_and_fail_validation_with_their_field(client, admin):
    add(admin, 4, invalid=4)
    page = client.fetch_handoffs(None)
    fields = set()
    for got in page.items:
        assert got.item_id
        assert isinstance(got.read, RefusedItem) and isinstance(got.read.error, PermanentError)
        fields.add(got.read.error.field)
    assert fields == {"citizen.phone", "citizen.wardCode", "dossierCode", "codAmount"}


def test_duplicate_items_are_served_again_in_a_later_page(client, admin):
    items = add(admin, 3)
    admin.post("/_admin/faults", json={"duplicate_item_rate": 1.0}).raise_for_status()
    seen, cursor = [], None
    for _ in range(6):
        page = client.fetch_handoffs(cursor, limit=2)
        seen += [i.item_id for i in page.items]
        cursor = page.next_cursor
    assert set(seen) == {i["id"] for i in items}
    assert len(seen) > len(set(seen))


def test_push_is_recorded_once_and_a_repeat_is_a_duplicate(client, admin):
    code = add(admin)[0]["dossierCode"]
    assert client.push_status(push_for(code)) is False
    assert client.push_status(push_for(code)) is True
    stats = admin.get("/_admin/stats").json()
    assert stats["events"] == 1 and stats["duplicate_deliveries"] == 1
    assert stats["per_dossier"] == {code: 1}
    event = admin.get("/_admin/events").json()["events"][0]
    assert event["dossierCode"] == code and event["occurredAt"].endswith("+07:00")
    assert client.get_dossier(code)["status"] == 10  # Đã trả kết quả


def test_rejected_push_is_permanent(client, admin):
    code = add(admin)[0]["dossierCode"]
    admin.post("/_admin/faults", json={"reject_push_for": [code]}).raise_for_status()
    with pytest.raises(PermanentError) as caught:
        client.push_status(push_for(code))
    assert caught.value.code == "422"
    assert admin.get("/_admin/stats").json()["events"] == 0


def test_unknown_dossier_is_not_found(client):
    with pytest.raises(NotFound):
        client.push_status(push_for("000.00.17.H19-010126-9999"))
    with pytest.raises(NotFound):
        client.get_dossier("000.00.17.H19-010126-9999")


def test_short_503_burst_is_retried_inside_the_client(client, admin):
    code = add(admin)[0]["dossierCode"]
    admin.post("/_admin/faults", json={"fail_next": 2}).raise_for_status()
    assert client.push_status(push_for(code)) is False
    stats = admin.get("/_admin/stats").json()
    assert stats["events"] == 1 and stats["api_requests"] == 3  # 2 x 503, then 200


def test_long_503_outage_gives_a_transient_error_after_three_tries(client, admin):
    admin.post("/_admin/faults", json={"fail_next": 10}).raise_for_status()
    with pytest.raises(TransientError):
        client.fetch_handoffs(None)
    assert admin.get("/_admin/stats").json()["api_requests"] == 3


def test_lost_reply_is_retried_and_recognised_as_duplicate(client, admin):
    code = add(admin)[0]["dossierCode"]
    admin.post("/_admin/faults", json={"lose_push_reply_rate": 1.0}).raise_for_status()
    # recorded, reply lost (503), retried inside: the system says it had it already
    assert client.push_status(push_for(code)) is True
    stats = admin.get("/_admin/stats").json()
    assert stats["per_dossier"] == {code: 1} and stats["duplicate_deliveries"] == 1


def test_rate_limit_raises_at_once_with_retry_after(client, admin):
    admin.post("/_admin/faults",
               json={"rate_limit_per_s": 1, "retry_after_s": 3}).raise_for_status()
    client.fetch_handoffs(None)
    with pytest.raises(TransientError) as caught:
        client.fetch_handoffs(None)
    assert caught.value.retry_after == 3
    assert admin.get("/_admin/stats").json()["api_requests"] == 2  # not retried inside


def test_wrong_api_key_is_a_clear_permanent_error(sim_url, admin):
    bad = OnestopClient(sim_url, "wrong-key", wait=wait_none())
    with bad, pytest.raises(PermanentError) as caught:
        bad.fetch_handoffs(None)
    assert caught.value.code == "401" and "khóa API" in caught.value.reason
    assert "wrong-key" not in str(caught.value)


def test_unreachable_system_is_transient():
    down = OnestopClient("http://127.0.0.1:9", API_KEY, timeout=1, wait=wait_none())
    with down, pytest.raises(TransientError):
        down.fetch_handoffs(None)


def test_latency_beyond_timeout_is_transient(sim_url, admin):
    admin.post("/_admin/faults", json={"latency_ms": 400}).raise_for_status()
    slow = OnestopClient(sim_url, API_KEY, timeout=0.1, max_attempts=1)
    with slow, pytest.raises(TransientError):
        slow.fetch_handoffs(None)
