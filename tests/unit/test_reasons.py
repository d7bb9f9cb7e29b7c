"""Status-log reasons in Vietnamese for people, from their codes (worker/domain/reason_codes.py)."""

from __future__ import annotations

import pytest

from worker.domain.reason_codes import CATALOGUE, ReasonCode, reason, stored
from worker.domain.statuses import Status
from worker.domain.transitions import can_cancel, decide


@pytest.mark.parametrize(("code", "expected"), [
    (ReasonCode.FORWARD, "trạng thái tiến lên"),
    (ReasonCode.SAME_STATUS, "trùng trạng thái hiện tại"),
    (ReasonCode.ANOTHER_ATTEMPT, "một lần thử mới"),
    (ReasonCode.NEW_DELIVERY_ROUND, "một lượt phát mới"),
    (ReasonCode.UNKNOWN_CODE, "mã bưu điện chưa biết"),
    (ReasonCode.INFORMATIONAL, "mã chỉ để thông tin"),
    (ReasonCode.HANDOFF_RECEIVED, "đã nhận hồ sơ từ một cửa"),
    (ReasonCode.PERMANENT_ERROR, "lỗi không tự khắc phục được, cần người xử lý"),
    (ReasonCode.COURIER_CALLED, "đã gọi bưu tá tại bàn một cửa"),
    (ReasonCode.CANCEL_REQUESTED, "đã yêu cầu bưu điện hủy"),
    (ReasonCode.CANCEL_REFUSED_BY_CARRIER, "bưu điện từ chối hủy"),
    (ReasonCode.ORDER_NOT_KNOWN, "đơn không thuộc hệ thống này"),
    (ReasonCode.ITEM_WITHOUT_ID, "mục không có id; không thể ghi nhận"),
])
def test_whole_reasons(code: ReasonCode, expected: str) -> None:
    assert reason(code).vi() == expected


def test_late_event_names_both_statuses() -> None:
    late = reason(ReasonCode.LATE_EVENT, new="picked_up", current="delivered")
    assert late.vi() == "tin đến muộn (Bưu tá đã nhận sau Phát thành công), không lùi trạng thái"
    assert late.en() == "late event (picked_up after delivered)"


def test_already_final_names_the_status() -> None:
    assert reason(ReasonCode.ALREADY_FINAL, current="returned").vi() == (
        "hồ sơ đã ở trạng thái cuối (Đã chuyển hoàn)")
    assert reason(ReasonCode.ALREADY_FINAL, current="no_such").vi() == (
        "hồ sơ đã ở trạng thái cuối (no_such)")


def test_duplicate_event_keeps_the_feed_id() -> None:
    dup = reason(ReasonCode.DUPLICATE_EVENT, event_id="01JD3Q-77")
    assert dup.vi() == "tin trùng, đã nhận trước đó (mã tin 01JD3Q-77)"
    assert dup.en() == "duplicate event (feed id 01JD3Q-77)"


def test_cancel_refused_gives_the_cause_with_its_parameters() -> None:
    took = reason(ReasonCode.CANCEL_REFUSED, why=ReasonCode.COURIER_TOOK_ITEM)
    assert took.vi() == "không hủy được: bưu tá đã nhận hồ sơ"
    assert took.en() == "cancel refused: courier already took the item"
    final = reason(ReasonCode.CANCEL_REFUSED, why=ReasonCode.ALREADY_FINAL, current="delivered")
    assert final.vi() == "không hủy được: hồ sơ đã ở trạng thái cuối (Phát thành công)"
    assert final.en() == "cancel refused: already final (delivered)"


def test_invalid_item_keeps_id_and_the_vietnamese_cause() -> None:
    assert reason(ReasonCode.INVALID_ITEM, item_id="hof_01JD").vi() == (
        "dữ liệu hồ sơ không hợp lệ (mục hof_01JD)")
    ignored = reason(ReasonCode.INVALID_ITEM, item_id="hof_01JD", detail="thiếu số điện thoại")
    assert ignored.vi() == "dữ liệu hồ sơ không hợp lệ (mục hof_01JD), bỏ qua: thiếu số điện thoại"
    assert ignored.en() == "invalid item hof_01JD ignored: thiếu số điện thoại"


def test_replayed_with_and_without_job_kind() -> None:
    assert reason(ReasonCode.REPLAYED).vi() == "chạy lại theo yêu cầu của cán bộ vận hành"
    assert reason(ReasonCode.REPLAYED, kind="push_status").vi() == (
        "chạy lại theo yêu cầu của cán bộ vận hành (báo trạng thái về một cửa)")
    assert reason(ReasonCode.REPLAYED, kind="other_kind").vi().endswith("(other_kind)")
    assert reason(ReasonCode.REPLAYED, kind="push_status").en() == "replayed push_status"


def test_an_entry_not_taken_says_what_and_the_error_type() -> None:
    r = reason(ReasonCode.ENTRY_NOT_TAKEN, what="item hof_1", error="TypeError")
    assert r.vi() == "không xử lý được item hof_1: TypeError"
    assert r.en() == "item hof_1 could not be taken: TypeError"


def test_a_row_from_before_codes_shows_its_own_words() -> None:
    assert stored(None, None, "mục không có id; không thể ghi nhận").vi() == (
        "mục không có id; không thể ghi nhận")
    assert stored(None, None, "").vi() == ""


def test_every_reason_the_state_machine_gives_reads_in_vietnamese() -> None:
    reasons = [decide(cur, new).reason for cur in Status for new in [*Status, None]]
    reasons += [decide(Status.ACCEPTED, None, known_code=False).reason]
    reasons += [reason(ReasonCode.CANCEL_REFUSED, why=can_cancel(s).reason.code,
                       **can_cancel(s).reason.params) for s in Status]
    for r in reasons:
        text = r.vi()
        assert text and text != r.en(), r
        assert not any(word in text for word in ("event", "final", "refused", "{")), (r, text)
    assert all(vi and en and vi != en for vi, en in CATALOGUE.values()
               if "{" not in vi + en)
