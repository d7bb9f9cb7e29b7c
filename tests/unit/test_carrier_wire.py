"""The carrier wire: status table, order body, reply and feed parsing, HTTP classification."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.carriers.vnpost import feed, s10, wire
from simulators.carrier.store import validate_order
from worker.domain.errors import CancelRefused, PermanentError, TransientError
from worker.domain.model import Address, CarrierOrder, Contact
from worker.domain.rules import MAX_ORDER_NUMBER
from worker.domain.statuses import Direction, Status

AGENCY = Contact(
    "Bộ phận Một cửa huyện Lai Vung",
    "02773000000",
    Address("Trung tâm Phục vụ hành chính công", "82", "30226",
            carrier_area=(82, 82098)),
    "motcua@example.gov.vn",
)
CITIZEN = Contact("Nguyễn Thị Hồng", "0912345678",
                  Address("Số 12 Hàng Bài", "1", "70", carrier_area=(1, 1004)))


def order(direction: Direction, citizen: Contact = CITIZEN) -> CarrierOrder:
    delivery = direction == Direction.RESULT_DELIVERY
    return CarrierOrder(
        order_number="000.00.17.H19-201126-0001/R1",
        direction=direction,
        sender=AGENCY if delivery else citizen,
        receiver=citizen if delivery else AGENCY,
        cod_amount=25000,
        description="Cấp giấy chứng nhận",
        sender_desc="Hồ sơ 000.00.17.H19-201126-0001",
    )


def test_status_table_maps_codes_to_statuses_as_data():
    expected = {
        0: None,
        1: Status.PICKED_UP,
        2: Status.IN_TRANSIT,
        3: Status.AT_DELIVERY_OFFICE,
        4: Status.DELIVERY_FAILED,
        5: Status.DELIVERED,
        6: None,
        7: Status.RETURNING,
        8: None,
        9: Status.RETURNED,
        10: Status.IN_TRANSIT,
        11: Status.DELIVERED,
        13: Status.PICKUP_FAILED,
        14: Status.PICKUP_FAILED,
        15: Status.PICKUP_FAILED,
        16: Status.PICKUP_FAILED,
    }
    assert {c: s for c, (s, _) in wire.STATUS_TABLE.items()} == expected
    assert wire.STATUS_TABLE[5][1] == "Phát thành công"
    assert wire.lookup_status(12) == (None, False)
    assert wire.lookup_status(6) == (None, True)


def test_result_delivery_body_has_agency_as_sender_and_citizen_as_receiver():
    body = wire.build_order_body(order(Direction.RESULT_DELIVERY), "C0001")
    assert body["CustomerCode"] == "C0001"
    assert body["OrderNumber"] == "000.00.17.H19-201126-0001/R1"
    assert body["CODAmount"] == 25000
    assert body["SenderName"] == "Bộ phận Một cửa huyện Lai Vung"
    assert body["SenderAddress"] == "Trung tâm Phục vụ hành chính công, Xã Lai Vung, Đồng Tháp"
    assert (body["SenderProvince"], body["SenderDistrict"]) == (82, 82098)
    assert body["ReceiverName"] == "Nguyễn Thị Hồng"
    assert body["ReceiverTel"] == "0912345678"
    assert body["ReceiverEmail"] == ""
    assert body["ReceiverAddress"].startswith("Số 12 Hàng Bài, Phường Hoàn Kiếm")
    assert body["ReceiverProvince"] == 1 and body["ReceiverDistrict"] > 1000
    assert body["Description"] == "Cấp giấy chứng nhận"
    assert validate_order(body, "C0001") is None  # the simulator accepts what we build


def test_pickup_body_has_citizen_as_sender_and_agency_as_receiver():
    body = wire.build_order_body(order(Direction.PICKUP), "C0001")
    assert body["SenderName"] == "Nguyễn Thị Hồng"
    assert body["SenderTel"] == "0912345678"
    assert body["ReceiverName"] == "Bộ phận Một cửa huyện Lai Vung"
    assert (body["ReceiverProvince"], body["ReceiverDistrict"]) == (82, 82098)


@pytest.mark.parametrize(
    ("direction", "field"),
    [
        (Direction.RESULT_DELIVERY, "citizen.wardCode"),
        (Direction.PICKUP, "citizen.wardCode"),
    ],
)
def test_unmapped_ward_is_a_permanent_error_naming_the_field(direction, field):
    nowhere = Contact("Trần Văn An", "0987654321", Address("Ấp 3", "82", "99999"))
    with pytest.raises(PermanentError) as info:
        wire.build_order_body(order(direction, citizen=nowhere), "C0001")
    assert info.value.field == field
    assert "chưa có mã vùng của bưu điện" in info.value.reason
    assert "99999" in info.value.reason


def test_unmapped_agency_ward_names_the_agency_field():
    bad_agency = Contact("Một cửa", "02773000000", Address("x", "82", "1"))
    o = CarrierOrder("X-1", Direction.RESULT_DELIVERY, bad_agency, CITIZEN)
    with pytest.raises(PermanentError) as info:
        wire.build_order_body(o, "C0001")
    assert info.value.field == "agency.wardCode"


@pytest.mark.parametrize(
    ("status", "existed"), [(100, False), (101, True), ("100", False), ("101", True)]
)
def test_post_reply_accepted_or_already_there(status, existed):
    outcome = wire.parse_post_reply(200, {"Status": status, "Message": "ok"})
    assert outcome.already_existed is existed


def test_post_reply_rejection_is_permanent_with_the_carrier_message_and_code():
    with pytest.raises(PermanentError) as info:
        wire.parse_post_reply(200, {"Status": 102, "Message": "Sai SĐT 0912345678"})
    assert info.value.code == "102"
    assert info.value.reason.startswith("Bưu điện từ chối đơn:")
    assert "0912345678" not in info.value.reason  # phone masked


def test_post_reply_without_status_is_transient():
    with pytest.raises(TransientError):
        wire.parse_post_reply(200, {"Message": "?"})


def test_only_status_100_cancels():
    assert wire.parse_cancel_reply({"Status": 100, "Message": "Hủy thành công"}) == (
        "Hủy thành công"
    )
    assert wire.parse_cancel_reply({"Status": "100", "Message": "ok"}) == "ok"  # LGSP


@pytest.mark.parametrize("status", [101, 104, 105, 999, "abc", 100.5, True, "1 00"])
def test_every_other_cancel_status_is_a_refusal_never_not_found(status):
    with pytest.raises(CancelRefused) as info:
        wire.parse_cancel_reply({"Status": status, "Message": "Bưu tá đã nhận hàng 0912345678"})
    err = info.value
    assert type(err) is CancelRefused  # a refusal: never NotFound, never success
    assert err.reason.startswith("bưu điện từ chối hủy đơn") and "0912345678" not in err.reason
    assert err.code == str(status)


@pytest.mark.parametrize("body", [{}, {"Status": None}, {"Status": "  "}, {"Message": "ok"}])
def test_a_cancel_reply_without_a_status_is_no_answer_not_a_refusal(body):
    with pytest.raises(TransientError):
        wire.parse_cancel_reply(body)


def doc(oid: str, code: object = 2, **extra) -> dict:
    return {
        "_id": {"$oid": oid},
        "CustomerCode": "C0001",
        "OrderNumber": "O-1",
        "ItemCode": "EB123456785VN",
        "EventTime": 1732602000000,
        "POSID": "871500",
        "StatusCode": code,
        "StatusMessage": "Đang trên tuyến vận chuyển",
        "Notes": "",
        **extra,
    }


def test_tracking_page_parses_events_and_moves_the_cursor():
    page = feed.parse_tracking_page(
        {"_embedded": {"rh:doc": [doc("a" * 24), doc("b" * 24, code=99, StatusMessage="Lạ")]}},
        wire.FIRST_CURSOR,
    )
    first, unknown = page.events
    assert first.event_id == "a" * 24 and first.order_number == "O-1"
    assert first.item_code == "EB123456785VN" and first.post_office == "871500"
    assert first.occurred_at == datetime(2024, 11, 26, 6, 20, tzinfo=UTC)
    assert first.status == Status.IN_TRANSIT and first.known_code
    assert unknown.status is None and not unknown.known_code and unknown.raw_text == "Lạ"
    assert unknown.raw_code == 99
    assert page.last_id == "b" * 24


def test_empty_tracking_page_keeps_the_cursor():
    page = feed.parse_tracking_page({"_embedded": {"rh:doc": []}, "_returned": 0}, "c" * 24)
    assert page.events == [] and page.last_id == "c" * 24
    assert feed.parse_tracking_page({"_returned": 0}, None).last_id == wire.FIRST_CURSOR


def test_malformed_doc_is_logged_as_an_unknown_event_and_docs_without_oid_are_skipped():
    docs = [
        doc("a" * 24, code="không phải số"),
        {"OrderNumber": "O-1", "StatusCode": 5},
        doc("b" * 24, OrderNumber=""),
        doc("c" * 24, code="5"),
    ]
    page = feed.parse_tracking_page({"_embedded": {"rh:doc": docs}}, None)
    bad, good = page.events
    assert bad.event_id == "a" * 24 and bad.status is None and not bad.known_code
    assert "không hợp lệ" in bad.raw_text
    assert good.status == Status.DELIVERED  # a numeric string code is accepted
    assert page.last_id == "c" * 24


def test_over_long_tracking_text_is_cut_to_its_column_and_the_event_kept():
    long_order = "000.00.17.H19-201126-0001/R1" + "X" * 40
    docs = [doc("a" * 24, OrderNumber=long_order, ItemCode="EB" + "9" * 30, POSID="8" * 60,
                StatusMessage="m" * 600, Notes="n" * 3000)]
    (event,) = feed.parse_tracking_page({"_embedded": {"rh:doc": docs}}, None).events
    assert len(event.order_number) == MAX_ORDER_NUMBER == 50
    assert event.order_number.startswith(long_order[:49])
    assert event.order_number != long_order[:50]  # can never equal one of our numbers
    assert event.item_code == ("EB" + "9" * 30)[:20]
    assert event.post_office == "8" * 40
    assert event.raw_text == "m" * 400
    assert event.notes == "n" * 2000
    assert event.status == Status.IN_TRANSIT  # the event itself is intact


def test_order_numbers_up_to_the_limit_are_kept_as_sent():
    number = "N" * MAX_ORDER_NUMBER
    (event,) = feed.parse_tracking_page(
        {"_embedded": {"rh:doc": [doc("a" * 24, OrderNumber=f" {number} ")]}}, None).events
    assert event.order_number == number
    assert wire.MAX_ORDER_NUMBER is MAX_ORDER_NUMBER  # one definition, in the rules


def test_absurd_status_code_is_a_malformed_event():
    (event,) = feed.parse_tracking_page(
        {"_embedded": {"rh:doc": [doc("a" * 24, code=10**20)]}}, None).events
    assert event.raw_code == -1 and event.status is None and not event.known_code


def test_http_classification():
    assert wire.classify_http(200, {}, "") is None
    assert isinstance(wire.classify_http(503, {}, ""), wire.BurstError)
    limited = wire.classify_http(429, {"Retry-After": "7"}, "")
    assert isinstance(limited, TransientError) and limited.retry_after == 7.0
    dated = wire.classify_http(429, {"retry-after": "Thu, 01 Jan 2099 00:00:00 GMT"}, "")
    assert isinstance(dated, TransientError) and dated.retry_after and dated.retry_after > 0
    assert not isinstance(limited, wire.BurstError)  # rescheduled by the ledger instead
    # the post office down for a while and saying so: no short retries, the ledger waits
    down = wire.classify_http(503, {"Retry-After": "30"}, "")
    assert isinstance(down, TransientError) and not isinstance(down, wire.BurstError)
    assert down.retry_after == 30.0 and "HTTP 503" in str(down)
    assert isinstance(wire.classify_http(503, {"Retry-After": "0"}, ""), wire.BurstError)
    assert isinstance(wire.classify_http(502, {"Retry-After": "soon"}, ""), wire.BurstError)
    assert wire.holds_account(429, None) and wire.holds_account(503, 30.0)
    assert not wire.holds_account(503, None) and not wire.holds_account(408, 5.0)
    assert isinstance(wire.classify_http(401, {}, ""), wire.TokenRejected)
    bad = wire.classify_http(400, {}, "ReceiverTel 0912345678 sai")
    assert isinstance(bad, PermanentError) and "0912345678" not in str(bad)


def test_s10_check_digit():
    assert s10.s10_check_digit("12345678") == 5  # UPU example RR123456785VN
    assert s10.make_s10("EB", 12345678) == "EB123456785VN"
    assert s10.is_valid_s10("RR123456785VN")
    assert not s10.is_valid_s10("RR123456784VN")
    assert s10.s10_check_digit("00000000") == 5  # remainder 0 -> 5


def test_simulator_validation_names_the_field_and_rejects_unknown_areas():
    body = wire.build_order_body(order(Direction.PICKUP), "C0001")
    assert validate_order({**body, "SenderName": 5}, None) == (
        102,
        "Trường SenderName bị thiếu hoặc không hợp lệ",
    )
    assert validate_order({**body, "ReceiverDistrict": 0}, None)[0] == 103
    assert validate_order({**body, "CustomerCode": "C9"}, "C0001")[0] == 102
