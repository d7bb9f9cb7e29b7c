"""One-stop mapping: item validation, push bodies, reply classes, webhook signatures."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from integrations.onestop import mapping, replies
from integrations.onestop.webhooks import (
    BadSignature,
    sign_webhook,
    signed_webhook_request,
    verify_webhook,
)
from tests.onestop_items import ITEM, changed
from worker.domain.errors import InvalidInput, NotFound, PermanentError, TransientError
from worker.domain.model import HandoffItem, HandoffKind, OnestopItem, RefusedItem, StatusPush
from worker.domain.statuses import Direction, Status

SECRET = "whsec_ZGVtby13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE="

def item(**changes: object) -> dict:
    return changed(**changes)


def test_valid_result_ready_item_keeps_diacritics_and_normalizes_phone():
    parsed = mapping.parse_item(ITEM)
    assert parsed.item_id == "hof_01JD3Q6T1V"
    assert parsed.kind == HandoffKind.RESULT_READY
    assert parsed.direction == Direction.RESULT_DELIVERY
    assert parsed.agency_name == "UBND xã Lai Vung"
    assert parsed.citizen is not None
    assert parsed.citizen.name == "Nguyễn Thị Hồng"
    assert parsed.citizen.phone == "0912345678"
    assert parsed.citizen.address.street == "Số 12, ấp Tân Thạnh"
    assert (parsed.citizen.address.province_code, parsed.citizen.address.ward_code) == (
        "82", "30226")
    assert parsed.created_at.utcoffset() == timedelta(hours=7)


def test_pickup_item_accepts_int_codes_and_ignores_legacy_district():
    parsed = mapping.parse_item(item(type="pickup_requested", citizen__provinceCode=92,
                                     citizen__wardCode=31135, citizen__districtCode="916",
                                     citizen__name="Trần Văn Bình", codAmount=25000))
    assert parsed.direction == Direction.PICKUP
    assert parsed.citizen and parsed.citizen.address.ward_code == "31135"
    assert parsed.cod_amount == 25000


def test_cancellation_needs_no_citizen():
    parsed = mapping.parse_item(item(type="handoff_cancelled", citizen=..., procedure=...))
    assert parsed.citizen is None and parsed.kind == HandoffKind.HANDOFF_CANCELLED


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"citizen__phone": ...}, "citizen.phone"),
        ({"citizen__phone": "12345"}, "citizen.phone"),
        ({"citizen__wardCode": "99999"}, "citizen.wardCode"),
        ({"citizen__wardCode": "31135"}, "citizen.wardCode"),  # Cần Thơ ward, Đồng Tháp code
        ({"citizen__provinceCode": "99"}, "citizen.provinceCode"),
        ({"dossierCode": "000.00.17.H19/201126/0001"}, "dossierCode"),
        ({"dossierCode": ...}, "dossierCode"),
        ({"codAmount": "abc"}, "codAmount"),
        ({"codAmount": True}, "codAmount"),
        ({"codAmount": -1}, "codAmount"),
        ({"createdAt": "2026-11-26T09:15:00"}, "createdAt"),
        ({"createdAt": "hôm qua"}, "createdAt"),
        ({"type": "result_delivered"}, "type"),
        ({"id": ""}, "id"),
        ({"citizen": ...}, "citizen"),
        ({"citizen__name": " "}, "citizen.name"),
        ({"citizen__address": ""}, "citizen.address"),
        ({"agency": ...}, "agency"),
    ],
)
def test_each_defect_names_its_wire_field(changes, field):
    with pytest.raises(InvalidInput) as caught:
        mapping.parse_item(item(**changes))
    assert caught.value.field == field
    assert caught.value.reason  # plain words for a desk clerk


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("id", 80), ("agency__code", 40), ("agency__name", 200), ("procedure__code", 40),
        ("procedure__name", 300), ("citizen__name", 200), ("citizen__email", 200),
        ("citizen__address", 400), ("dossierCode", 80),
    ],
)
def test_over_long_fields_are_refused_naming_the_field_and_the_limit(path, limit):
    field = path.replace("__", ".")
    fits = "x" * limit if path != "citizen__email" else "a" * (limit - 12) + "@example.com"
    if path == "dossierCode":
        fits = "000.00.17.H19-201126-0001"  # real codes are short: the format bounds them
    else:
        parsed = mapping.parse_item(item(**{path: fits}))  # exactly at the limit: accepted
        assert parsed is not None
    with pytest.raises(InvalidInput) as caught:
        mapping.parse_item(item(**{path: "y" * (limit + 1)}))
    assert caught.value.field == field
    assert f"tối đa {limit} ký tự" in caught.value.reason
    assert str(limit + 1) in caught.value.reason  # how long it was


def test_surrounding_blanks_do_not_count_towards_a_limit():
    parsed = mapping.parse_item(item(agency__code="  " + "A" * 40 + "  "))
    assert parsed.agency_code == "A" * 40


def test_an_id_too_long_to_store_is_no_usable_id():
    assert mapping.item_id_of(item(id="i" * 80)) == "i" * 80
    assert mapping.item_id_of(item(id="i" * 81)) is None
    assert mapping.item_id_of(item(id=" " + "i" * 80 + " ")) == "i" * 80


def test_errors_do_not_echo_personal_data():
    with pytest.raises(InvalidInput) as caught:
        mapping.parse_item(item(citizen__phone="0912 34"))
    assert "0912" not in str(caught.value)


def test_ids_are_read_best_effort_from_invalid_items():
    bad = item(citizen__phone=..., dossierCode="  000.00.17.H19/x ")
    assert mapping.item_id_of(bad) == "hof_01JD3Q6T1V"
    assert mapping.dossier_code_of(bad) == "000.00.17.H19/x"
    assert mapping.item_id_of("not an item") is None
    assert mapping.dossier_code_of({"dossierCode": 5}) is None


def test_parse_page_reads_each_item_on_its_own():
    page = mapping.parse_page({"items": [ITEM, "junk"], "next": "c_000002"})
    assert [i.item_id for i in page.items] == [ITEM["id"], None]
    assert page.items[0].read == mapping.parse_item(ITEM) and page.next_cursor == "c_000002"
    junk = page.items[1].read
    assert isinstance(junk, RefusedItem) and (junk.error.field, junk.error.code) == (
        "item", "object.missing")
    with pytest.raises(PermanentError):
        mapping.parse_page({"data": []})


def test_push_body_matches_contract_in_vietnam_time():
    push = StatusPush(event_id="pev_1", dossier_code="000.00.17.H19-201126-0001",
                      direction=Direction.RESULT_DELIVERY, status=Status.DELIVERED,
                      item_code="EB123456785VN", carrier_code=5, carrier_text="Phát thành công",
                      occurred_at=datetime(2026, 11, 27, 3, 2, tzinfo=UTC))
    assert mapping.push_body(push) == {
        "eventId": "pev_1", "direction": "result_delivery", "status": "delivered",
        "itemCode": "EB123456785VN", "carrierCode": 5, "carrierText": "Phát thành công",
        "occurredAt": "2026-11-27T10:02:00+07:00", "note": ""}
    assert json.dumps(mapping.push_body(push))  # plain JSON types only
    assert mapping.push_path(push.dossier_code) == (
        "/api/v1/dossiers/000.00.17.H19-201126-0001/postal-events")


def test_push_replies_are_classified_once():
    assert replies.classify_push_reply(200, {}, {"recorded": True}) is False
    assert replies.classify_push_reply(200, {}, {"duplicate": True}) is True
    assert isinstance(replies.classify_push_reply(404, {}, {}), NotFound)
    rejected = replies.classify_push_reply(422, {}, {"message": "sai", "field": "status"})
    assert type(rejected) is PermanentError and rejected.field == "status"
    limited = replies.classify_push_reply(429, {"Retry-After": "7"}, None)
    assert isinstance(limited, TransientError) and limited.retry_after == 7
    assert isinstance(replies.classify_push_reply(503, {}, ""), TransientError)
    assert type(replies.classify_push_reply(400, {}, "")) is PermanentError
    assert type(replies.classify_push_reply(401, {}, "")) is PermanentError


def test_webhook_roundtrip():
    headers, body = signed_webhook_request(SECRET, ITEM)
    assert verify_webhook(SECRET, headers, body) == ITEM
    assert headers["webhook-id"] == "msg_hof_01JD3Q6T1V"
    assert headers["webhook-signature"].startswith("v1,")


def test_webhook_with_tampered_body_is_rejected():
    headers, body = signed_webhook_request(SECRET, ITEM)
    with pytest.raises(BadSignature):
        verify_webhook(SECRET, headers, body.replace(b"0912", b"0987"))


@pytest.mark.parametrize("skew", [-6 * 60, 6 * 60])
def test_webhook_outside_five_minutes_is_rejected(skew):
    body = json.dumps(ITEM).encode()
    headers = sign_webhook(SECRET, "msg_1", body, time.time() + skew)
    with pytest.raises(BadSignature):
        verify_webhook(SECRET, headers, body)


def test_webhook_within_tolerance_and_with_wrong_secret_or_missing_headers():
    body = json.dumps(ITEM).encode()
    headers = sign_webhook(SECRET, "msg_1", body, time.time() - 4 * 60)
    assert verify_webhook(SECRET, headers, body)["id"] == ITEM["id"]
    with pytest.raises(BadSignature):
        verify_webhook("whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldCEhIQ==", headers, body)
    with pytest.raises(BadSignature):
        verify_webhook(SECRET, {"webhook-id": "msg_1"}, body)
    with pytest.raises(BadSignature):
        verify_webhook(SECRET, {**headers, "webhook-signature": "garbage"}, body)


def test_an_item_without_a_type_is_refused_naming_the_field():
    with pytest.raises(InvalidInput) as err:
        mapping.parse_item(item(type=...))
    assert err.value.field == "type" and err.value.code == "type.unsupported"


def test_read_item_gives_a_valid_item_as_the_hand_off():
    got = mapping.read_item(ITEM)
    assert got == OnestopItem(ITEM["id"], ITEM["dossierCode"], mapping.parse_item(ITEM))
    assert isinstance(got.read, HandoffItem)


def test_a_refused_item_keeps_its_ids_direction_and_agency_as_sent():
    got = mapping.read_item(item(type="pickup_requested", citizen__phone="12",
                                 agency__name="UBND\x00 xã", dossierCode=" 000.00.17.H19/x "))
    assert (got.item_id, got.dossier_code) == ("hof_01JD3Q6T1V", "000.00.17.H19/x")
    assert isinstance(got.read, RefusedItem) and got.read.error.field == "dossierCode"
    assert got.read.direction == Direction.PICKUP
    assert got.read.agency == ("000.00.17.H19", "UBND\ufffd xã")  # made storable
    assert mapping.read_item(item(agency="x", citizen__phone="12")).read.agency is None
    assert mapping.read_item(item(citizen__phone="12")).read.direction == (
        Direction.RESULT_DELIVERY)


def test_a_bug_in_reading_an_item_is_carried_with_it_never_raised(monkeypatch):
    def bug(raw: object) -> HandoffItem:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(mapping, "parse_item", bug)
    page = mapping.parse_page({"items": [ITEM], "next": None})
    (got,) = page.items
    assert got.item_id == ITEM["id"] and isinstance(got.read, ZeroDivisionError)
