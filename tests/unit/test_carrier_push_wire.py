"""The carrier status push's wire (integrations/carriers/vnpost/push.py): its code table agrees with
the feed's on every shared milestone, the body becomes a TrackingEvent whatever it holds
(odd values give an event that moves nothing; only an unattributable body is refused), and
the signature is the contract's HMAC, checked in constant time."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.carriers.vnpost.push import (
    PUSH_STATUS_TABLE,
    BadPush,
    PushKey,
    format_time,
    parse_push,
    read_push,
    sign,
    transaction_of,
    verify,
)
from integrations.carriers.vnpost.wire import STATUS_TABLE
from simulators.carrier.push import push_body, signed_push
from worker.domain.enums import VN_TZ
from worker.domain.statuses import Status

ORDER = "000.00.17.H19-201126-0001/R1"
AT = datetime(2026, 11, 27, 10, 2, tzinfo=VN_TZ)
FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _raw(code: int = 7, **fields: Any) -> bytes:
    return json.dumps(push_body(ORDER, code, AT, **fields)).encode()


# --- the code table -------------------------------------------------------------------------
@pytest.mark.parametrize(("push", "feed"), [(3, 1), (4, 2), (6, 4), (7, 5), (8, 7), (13, 9)])
def test_a_milestone_both_tables_know_maps_to_the_same_status(push: int, feed: int) -> None:
    assert PUSH_STATUS_TABLE[push][0] is STATUS_TABLE[feed][0] is not None


def test_the_products_codes_are_all_there_with_their_words() -> None:
    assert sorted(PUSH_STATUS_TABLE) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13]
    assert PUSH_STATUS_TABLE[5] == (Status.OUT_FOR_DELIVERY, "Đang phát hàng")
    # created, waiting for the courier, cancelled by the carrier, "other": told, not applied
    assert [c for c, (s, _) in PUSH_STATUS_TABLE.items() if s is None] == [1, 2, 9, 12]


# --- the body -------------------------------------------------------------------------------
def test_a_push_becomes_the_event_its_fields_say() -> None:
    ev = parse_push(_raw(note="Người nhận: Hồng"), "tx-1")
    assert ev.event_id == "tx-1" and ev.order_number == ORDER
    assert ev.item_code == "EB123456785VN" and ev.post_office == "Bưu cục Lai Vung"
    assert ev.occurred_at == datetime(2026, 11, 27, 3, 2, tzinfo=UTC)  # 10:02 at +07:00
    assert (ev.raw_code, ev.status, ev.known_code) == (7, Status.DELIVERED, True)
    assert ev.raw_text == "Phát thành công"


def test_the_time_goes_back_to_the_wire_as_it_came() -> None:
    assert format_time(AT) == "27/11/2026 10:02:00"
    assert format_time(AT.astimezone(UTC)) == "27/11/2026 10:02:00"


def test_a_code_given_as_text_counts_and_an_unknown_one_moves_nothing() -> None:
    assert parse_push(_raw(status_code="4"), "t").status is Status.IN_TRANSIT
    ev = parse_push(_raw(status_code=42, status_name=""), "t")
    assert (ev.raw_code, ev.status, ev.known_code) == (42, None, False)
    cancelled = parse_push(_raw(9), "t")
    assert (cancelled.status, cancelled.known_code, cancelled.raw_text) == (
        None, True, "Đơn hàng hủy")


@pytest.mark.parametrize("fields", [
    {"status_code": "bảy"}, {"status_code": True}, {"status_code": 7.5},
    {"status_code": None}, {"status_code": 10**12}, {"status_code": [7]},
    {"datetime": "2026-11-27T10:02:00+07:00"}, {"datetime": "31/02/2026 10:00:00"},
    {"datetime": "27/11/1990 10:00:00"}, {"datetime": "27/11/2999 10:00:00"},
    {"datetime": 1732676520000}, {"datetime": None},
])
def test_an_unusable_code_or_time_is_an_event_that_moves_nothing(fields: dict) -> None:
    ev = parse_push(_raw(**fields), "t")
    assert (ev.raw_code, ev.status, ev.known_code) == (-1, None, False)
    assert ev.order_number == ORDER and ev.raw_text.startswith("tin báo không hợp lệ")


def test_free_text_is_made_storable_and_cut_to_its_column() -> None:
    ev = parse_push(_raw(note="a\x00b\x1b[2J" + "x" * 5000, locate="Bưu cục\n" * 20,
                         status_name="Phát\x07 thành công"), "t")
    for text in (ev.notes, ev.post_office, ev.raw_text):
        assert not FORBIDDEN.search(text)
    assert len(ev.notes) <= 2000 and len(ev.post_office) <= 40


def test_only_an_item_code_is_enough_and_an_overlong_order_number_is_not_ours() -> None:
    ev = parse_push(_raw(order_code=None), "t")
    assert ev.order_number == "" and ev.item_code == "EB123456785VN"
    long = parse_push(_raw(order_code="X" * 80), "t").order_number
    assert len(long) == 50 and long.endswith("…")


@pytest.mark.parametrize("raw", [
    b"not json", b"[1, 2]", b'"text"', b"{" * 40 + b"}" * 40, b'{"status_code": NaN}',
    json.dumps({"status_code": 7, "order_code": "", "tracking_code": None}).encode(),
    json.dumps({"status_code": 7, "order_code": {"a": 1}}).encode(),
])
def test_a_body_that_names_no_order_is_refused(raw: bytes) -> None:
    with pytest.raises(BadPush) as refused:
        parse_push(raw, "t")
    assert refused.value.reason  # Vietnamese words for the carrier's people


@pytest.mark.parametrize("raw", [None, "", "   ", "x" * 101, "tx\x00", "tx\n1"])
def test_an_unusable_transaction_id_is_refused(raw: str | None) -> None:
    with pytest.raises(BadPush) as refused:
        transaction_of(raw)
    assert refused.value.field == "ems-transaction"


def test_a_transaction_id_is_kept_as_given() -> None:
    assert transaction_of(" 6f1c-42 ") == "6f1c-42"


# --- the signature --------------------------------------------------------------------------
def test_the_signature_is_lowercase_hex_hmac_sha256_of_the_raw_body() -> None:
    assert sign("key", b"The quick brown fox jumps over the lazy dog") == (
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")


def test_only_the_right_signature_of_the_very_body_verifies() -> None:
    headers, body = signed_push("s3cret", push_body(ORDER, 7, AT))
    good = headers["ems-signature"]
    assert verify("s3cret", body, good)
    assert not verify("s3cret", body + b" ", good)
    assert not verify("other", body, good)
    assert not verify("", body, sign("", body))  # no secret configured: nothing verifies
    for bad in (None, "", good[:-1], good + "0", "ý" * 64, "\x00" * 64, "İ" * 64):
        assert not verify("s3cret", body, bad)
    assert verify("s3cret", body, good.upper())  # hex is hex in either case


def test_a_ready_key_checks_as_the_secret_does_whatever_its_length() -> None:
    body = b'{"order_code": "x"}'
    for secret in ("k", "s" * 64, "long-" * 40):  # over 64 bytes HMAC hashes the key first
        key = PushKey(secret)
        assert key.verify(body, sign(secret, body)) and not key.verify(body, sign("k2", body))
        assert secret not in repr(key)


# --- whatever arrives -----------------------------------------------------------------------
any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
values = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text
FIELDS = ["tracking_code", "order_code", "status_code", "status_name", "note", "locate",
          "datetime", "total_weight"]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), values | st.lists(values, max_size=3)))
def test_any_body_is_an_event_or_a_refusal_and_what_is_kept_is_storable(data: dict) -> None:
    try:
        ev = parse_push(json.dumps(data).encode(), "t")
    except BadPush:
        return
    assert ev.order_number or ev.item_code
    for text in (ev.order_number, ev.item_code or "", ev.raw_text, ev.post_office, ev.notes):
        assert not FORBIDDEN.search(text)
    assert ev.occurred_at.tzinfo is not None and (ev.status is None or ev.known_code)


# --- one milestone, one content key (issue 13, item 6) -------------------------------------
orders = st.from_regex(r"[0-9A-Z][0-9A-Z.\-/]{0,40}", fullmatch=True)
moments = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=VN_TZ))
push_codes = st.integers(-(10**6), 10**6)


def _key(body: dict[str, Any], transaction: str = "t") -> str:
    return read_push(json.dumps(body).encode(), transaction)[1]


@settings(deadline=None)
@given(order=orders, code=push_codes, at=moments, note=any_text, locate=any_text,
       weight=st.integers(0, 10**6), transaction=st.from_regex(r"[a-z0-9-]{1,30}", fullmatch=True))
def test_a_push_written_otherwise_has_the_same_content_key(
        order: str, code: int, at: datetime, note: str, locate: str, weight: int,
        transaction: str) -> None:
    """A new transaction id, the code as text, spaces around the time, other words, keys
    in another order: the same milestone, so the same key (the receipts hold it once)."""
    body = push_body(order, code, at)
    other = {**push_body(order, code, at, note=note, locate=locate, weight=weight),
             "status_code": str(code), "datetime": f" {format_time(at)}  "}
    assert _key(body) == _key(dict(reversed(list(other.items()))), transaction)


@settings(deadline=None)
@given(order=orders, code=push_codes, at=moments, other_order=orders,
       other_code=push_codes, seconds=st.integers(1, 10**6))
def test_another_order_code_or_second_is_another_content_key(
        order: str, code: int, at: datetime, other_order: str, other_code: int,
        seconds: int) -> None:
    key = _key(push_body(order, code, at))
    assert (_key(push_body(other_order, code, at)) == key) == (other_order == order)
    assert (_key(push_body(order, other_code, at)) == key) == (other_code == code)
    assert _key(push_body(order, code, at + timedelta(seconds=seconds))) != key
    # only an item code: keyed by it, never taken for an order of the same text
    assert _key(push_body("", code, at, item_code=order)) != key


@settings(deadline=None)
@given(data=st.dictionaries(st.sampled_from(FIELDS), values | st.lists(values, max_size=3)))
def test_any_body_has_one_content_key_of_the_receipts_shape(data: dict) -> None:
    raw = json.dumps(data).encode()
    try:
        key = read_push(raw, "t1")[1]
    except BadPush:
        return
    assert re.fullmatch(r"[0-9a-f]{64}", key) and read_push(raw, "t2")[1] == key


# --- the signature: hex in either case, nothing else (issue 13, item 10) ---------------------
@settings(deadline=None)
@given(secret=st.text(min_size=1, max_size=100), body=st.binary(max_size=200),
       given_signature=st.text(max_size=70))
def test_a_signature_verifies_exactly_when_it_is_the_hmac_in_either_case(
        secret: str, body: bytes, given_signature: str) -> None:
    right = sign(secret, body)
    for variant in (right, right.upper(), right.title(), f" {right} "):
        assert verify(secret, body, variant)
    assert verify(secret, body, given_signature) == (
        given_signature.strip().encode("utf-8", "replace").lower() == right.encode())
