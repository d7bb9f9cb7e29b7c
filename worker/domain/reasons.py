"""Why a status-log entry was applied or ignored, in Vietnamese for people.

The delivery-status log stores the state machine's short English reasons (stable, greppable,
used by tests and scripts). Pages and the `handoff` command show staff these translations.
Pure: no database, no I/O.
"""

from __future__ import annotations

import re

from worker.domain.statuses import LABEL_VI, Status

# Whole reasons that carry no detail.
EXACT_VI: dict[str, str] = {
    "forward": "trạng thái tiến lên",
    "same status again": "trùng trạng thái hiện tại",
    "another attempt": "một lần thử mới",
    "new delivery round": "một lượt phát mới",
    "unknown carrier code": "mã bưu điện chưa biết",
    "informational code": "mã chỉ để thông tin",
    "hand-off received": "đã nhận hồ sơ từ một cửa",
    "permanent error": "lỗi không tự khắc phục được, cần người xử lý",
    "courier called at the desk": "đã gọi bưu tá tại bàn một cửa",
    "cancel requested at the carrier": "đã yêu cầu bưu điện hủy",
    "cancel refused by the carrier": "bưu điện từ chối hủy",
    "order not known to this worker": "đơn không thuộc hệ thống này",
    "replayed": "chạy lại theo yêu cầu của cán bộ vận hành",
    "courier already took the item": "bưu tá đã nhận hồ sơ",
    "not yet picked up": "bưu tá chưa nhận hồ sơ",
}

# Ledger job kinds named in "replayed <kind>".
JOB_KIND_VI = {"post_order": "gửi yêu cầu bưu chính", "cancel_order": "hủy đơn",
               "push_status": "báo trạng thái về một cửa"}

_LATE = re.compile(r"^late event \((?P<new>[a-z_]+) after (?P<current>[a-z_]+)\)$")
_FINAL = re.compile(r"^already final \((?P<current>[a-z_]+)\)$")
_DUPLICATE = re.compile(r"^duplicate event \(feed id (?P<id>.*)\)$")
_INVALID = re.compile(r"^invalid item (?P<id>\S+)(?: ignored: (?P<why>.*))?$", re.DOTALL)


def status_vi(status: str) -> str:
    """A normalized status's Vietnamese label; the value itself when unknown."""
    try:
        return LABEL_VI[Status(status)]
    except ValueError:
        return status


def reason_vi(reason: str) -> str:
    """The Vietnamese text of a log reason; a reason not known here is returned unchanged
    (the worker also writes some reasons in Vietnamese already)."""
    text = (reason or "").strip()
    if text in EXACT_VI:
        return EXACT_VI[text]
    if m := _LATE.match(text):
        return (f"tin đến muộn ({status_vi(m['new'])} sau {status_vi(m['current'])}), "
                "không lùi trạng thái")
    if text.startswith("late event"):
        return "tin đến muộn, không lùi trạng thái"
    if m := _FINAL.match(text):
        return f"hồ sơ đã ở trạng thái cuối ({status_vi(m['current'])})"
    if text.startswith("already final"):
        return "hồ sơ đã ở trạng thái cuối"
    if m := _DUPLICATE.match(text):
        return f"tin trùng, đã nhận trước đó (mã tin {m['id']})"
    if text.startswith("duplicate event"):
        return "tin trùng, đã nhận trước đó"
    if text.startswith("cancel refused: "):
        return "không hủy được: " + reason_vi(text.removeprefix("cancel refused: "))
    if text.startswith("cancel refused"):
        return "bưu điện từ chối hủy"
    if m := _INVALID.match(text):
        out = f"dữ liệu hồ sơ không hợp lệ (mục {m['id']})"
        return out + (f", bỏ qua: {m['why']}" if m["why"] else "")
    if text.startswith("invalid item"):
        return "dữ liệu hồ sơ không hợp lệ"
    if text.startswith("replayed"):
        kind = text.removeprefix("replayed").strip()
        base = EXACT_VI["replayed"]
        return f"{base} ({JOB_KIND_VI.get(kind, kind)})" if kind else base
    if text.startswith("order not known"):
        return EXACT_VI["order not known to this worker"]
    return reason
