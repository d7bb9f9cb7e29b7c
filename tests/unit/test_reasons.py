"""Status-log reasons in Vietnamese for people (worker/domain/reasons.py)."""

from __future__ import annotations

import pytest

from worker.domain.reasons import EXACT_VI, reason_vi
from worker.domain.statuses import Status
from worker.domain.transitions import can_cancel, decide


@pytest.mark.parametrize(("reason", "expected"), [
    ("forward", "trạng thái tiến lên"),
    ("same status again", "trùng trạng thái hiện tại"),
    ("another attempt", "một lần thử mới"),
    ("new delivery round", "một lượt phát mới"),
    ("unknown carrier code", "mã bưu điện chưa biết"),
    ("informational code", "mã chỉ để thông tin"),
    ("hand-off received", "đã nhận hồ sơ từ một cửa"),
    ("permanent error", "lỗi không tự khắc phục được, cần người xử lý"),
    ("courier called at the desk", "đã gọi bưu tá tại bàn một cửa"),
    ("cancel requested at the carrier", "đã yêu cầu bưu điện hủy"),
    ("cancel refused by the carrier", "bưu điện từ chối hủy"),
    ("order not known to this worker", "đơn không thuộc hệ thống này"),
])
def test_whole_reasons(reason: str, expected: str) -> None:
    assert reason_vi(reason) == expected


def test_late_event_names_both_statuses() -> None:
    assert reason_vi("late event (picked_up after delivered)") == (
        "tin đến muộn (Bưu tá đã nhận sau Phát thành công), không lùi trạng thái")
    assert reason_vi("late event (something odd)") == "tin đến muộn, không lùi trạng thái"


def test_already_final_names_the_status() -> None:
    assert reason_vi("already final (returned)") == "hồ sơ đã ở trạng thái cuối (Đã chuyển hoàn)"
    assert reason_vi("already final (no_such)") == "hồ sơ đã ở trạng thái cuối (no_such)"


def test_duplicate_event_keeps_the_feed_id() -> None:
    assert reason_vi("duplicate event (feed id 01JD3Q-77)") == (
        "tin trùng, đã nhận trước đó (mã tin 01JD3Q-77)")
    assert reason_vi("duplicate event") == "tin trùng, đã nhận trước đó"


def test_cancel_refused_translates_the_cause() -> None:
    assert reason_vi("cancel refused: courier already took the item") == (
        "không hủy được: bưu tá đã nhận hồ sơ")
    assert reason_vi("cancel refused: already final (delivered)") == (
        "không hủy được: hồ sơ đã ở trạng thái cuối (Phát thành công)")
    # the carrier's own refusal is not the "cancel refused: " prefix
    assert reason_vi("cancel refused by the carrier") == "bưu điện từ chối hủy"


def test_invalid_item_keeps_id_and_the_vietnamese_cause() -> None:
    assert reason_vi("invalid item hof_01JD") == "dữ liệu hồ sơ không hợp lệ (mục hof_01JD)"
    assert reason_vi("invalid item hof_01JD ignored: thiếu số điện thoại") == (
        "dữ liệu hồ sơ không hợp lệ (mục hof_01JD), bỏ qua: thiếu số điện thoại")


def test_replayed_with_and_without_job_kind() -> None:
    assert reason_vi("replayed") == "chạy lại theo yêu cầu của cán bộ vận hành"
    assert reason_vi("replayed push_status") == (
        "chạy lại theo yêu cầu của cán bộ vận hành (báo trạng thái về một cửa)")
    assert reason_vi("replayed other_kind").endswith("(other_kind)")


def test_unknown_or_vietnamese_reasons_pass_through() -> None:
    assert reason_vi("mục không có id; không thể ghi nhận") == "mục không có id; không thể ghi nhận"
    assert reason_vi("") == ""


def test_every_reason_the_state_machine_gives_is_translated() -> None:
    reasons = {decide(cur, new).reason for cur in Status for new in [*Status, None]}
    reasons |= {decide(Status.ACCEPTED, None, known_code=False).reason}
    reasons |= {f"cancel refused: {can_cancel(s).reason}" for s in Status}
    for reason in reasons:
        text = reason_vi(reason)
        assert text != reason, reason
        assert not any(word in text for word in ("event", "final", "refused")), (reason, text)
    assert all(v and v != k for k, v in EXACT_VI.items())
