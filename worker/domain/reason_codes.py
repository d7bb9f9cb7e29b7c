"""Coded reasons: why a status-log entry was applied or ignored, as a code and parameters.

A reason is stored as its code and parameters (status_log.reason_code, reason_params) and
turned into words only when shown: Vietnamese for staff, English for logs and `--json`,
both from the one catalogue below. No decision reads a reason's words, and nothing parses
them back. Pure: no database, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from worker.domain.enums import JOB_KIND_VI
from worker.domain.statuses import LABEL_VI, Status


class ReasonCode(StrEnum):
    # the state machine (domain/transitions.py)
    FORWARD = "forward"
    ANOTHER_ATTEMPT = "another_attempt"
    NEW_DELIVERY_ROUND = "new_delivery_round"
    SAME_STATUS = "same_status"
    UNKNOWN_CODE = "unknown_code"
    INFORMATIONAL = "informational"
    ALREADY_FINAL = "already_final"  # current
    LATE_EVENT = "late_event"  # new, current
    NOT_YET_PICKED_UP = "not_yet_picked_up"
    COURIER_TOOK_ITEM = "courier_took_item"
    # what the services record
    HANDOFF_RECEIVED = "handoff_received"
    ALREADY_REQUESTED = "already_requested"  # status
    INVALID_ITEM = "invalid_item"  # item_id, detail (optional: when an existing one stays)
    ITEM_WITHOUT_ID = "item_without_id"
    ENTRY_NOT_TAKEN = "entry_not_taken"  # what, error
    DUPLICATE_EVENT = "duplicate_event"  # event_id
    ORDER_NOT_KNOWN = "order_not_known"
    ORDER_OF_OTHER_ACCOUNT = "order_of_other_account"  # agency: the push's, not the order's
    PERMANENT_ERROR = "permanent_error"
    COURIER_CALLED = "courier_called"
    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_REFUSED = "cancel_refused"  # why: a ReasonCode (already_final, courier_took_item),
    # with that reason's own parameters beside it (current)
    CANCEL_REFUSED_BY_CARRIER = "cancel_refused_by_carrier"
    REPLAYED = "replayed"  # kind (optional)
    AGENCY_UNKNOWN = "agency_unknown"  # agency: no such agency in the deployment
    AGENCY_DISABLED = "agency_disabled"  # agency
    AGENCY_READY = "agency_ready"  # agency: added or enabled, its waiting hand-offs go on
    CREDENTIALS_UNREADABLE = "credentials_unreadable"  # agency: its keys do not decrypt
    # the hand-over record (worker/service/flow/handover.py): number; replaced also `by`
    HANDOVER_RECORDED = "handover_recorded"
    HANDOVER_CONFIRMED = "handover_confirmed"  # the desk marked the record handed over
    HANDOVER_TAKEN = "handover_taken"  # the carrier's event settled the hand-off
    HANDOVER_REPLACED = "handover_replaced"  # by: the new record's number
    HANDOVER_DROPPED = "handover_dropped"  # cancelled before the courier took it
    LEGACY = "legacy"  # text: a row written before reasons were coded


# code -> (Vietnamese, English); {name} is filled from the parameters
CATALOGUE: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.FORWARD: ("trạng thái tiến lên", "forward"),
    ReasonCode.ANOTHER_ATTEMPT: ("một lần thử mới", "another attempt"),
    ReasonCode.NEW_DELIVERY_ROUND: ("một lượt phát mới", "new delivery round"),
    ReasonCode.SAME_STATUS: ("trùng trạng thái hiện tại", "same status again"),
    ReasonCode.UNKNOWN_CODE: ("mã bưu điện chưa biết", "unknown carrier code"),
    ReasonCode.INFORMATIONAL: ("mã chỉ để thông tin", "informational code"),
    ReasonCode.ALREADY_FINAL: ("hồ sơ đã ở trạng thái cuối ({current_vi})",
                               "already final ({current})"),
    ReasonCode.LATE_EVENT: ("tin đến muộn ({new_vi} sau {current_vi}), không lùi trạng thái",
                            "late event ({new} after {current})"),
    ReasonCode.NOT_YET_PICKED_UP: ("bưu tá chưa nhận hồ sơ", "not yet picked up"),
    ReasonCode.COURIER_TOOK_ITEM: ("bưu tá đã nhận hồ sơ", "courier already took the item"),
    ReasonCode.HANDOFF_RECEIVED: ("đã nhận hồ sơ từ một cửa", "hand-off received"),
    ReasonCode.ALREADY_REQUESTED: ("hồ sơ đã có yêu cầu bưu chính (trạng thái {status_vi})",
                                   "the dossier already has a postal request ({status})"),
    ReasonCode.INVALID_ITEM: ("dữ liệu hồ sơ không hợp lệ (mục {item_id}){detail_vi}",
                              "invalid item {item_id}{detail_en}"),
    ReasonCode.ITEM_WITHOUT_ID: ("mục không có id; không thể ghi nhận",
                                 "item without a usable id"),
    ReasonCode.ENTRY_NOT_TAKEN: ("không xử lý được {what}: {error}",
                                 "{what} could not be taken: {error}"),
    ReasonCode.DUPLICATE_EVENT: ("tin trùng, đã nhận trước đó (mã tin {event_id})",
                                 "duplicate event (feed id {event_id})"),
    ReasonCode.ORDER_NOT_KNOWN: ("đơn không thuộc hệ thống này",
                                 "order not known to this worker"),
    ReasonCode.ORDER_OF_OTHER_ACCOUNT: (
        "tin báo qua tài khoản bưu chính của đơn vị {agency}, nhưng đơn thuộc tài khoản khác; "
        "không áp dụng",
        "push came by agency {agency}'s carrier account, the order belongs to another"),
    ReasonCode.PERMANENT_ERROR: ("lỗi không tự khắc phục được, cần người xử lý",
                                 "permanent error"),
    ReasonCode.COURIER_CALLED: ("đã gọi bưu tá tại bàn một cửa", "courier called at the desk"),
    ReasonCode.CANCEL_REQUESTED: ("đã yêu cầu bưu điện hủy", "cancel requested at the carrier"),
    ReasonCode.CANCEL_REFUSED: ("không hủy được: {why_vi}", "cancel refused: {why_en}"),
    ReasonCode.CANCEL_REFUSED_BY_CARRIER: ("bưu điện từ chối hủy",
                                           "cancel refused by the carrier"),
    ReasonCode.REPLAYED: ("chạy lại theo yêu cầu của cán bộ vận hành{kind_vi}",
                          "replayed{kind_en}"),
    ReasonCode.AGENCY_UNKNOWN: (
        "đơn vị {agency} chưa được khai báo trong hệ thống; hồ sơ chờ, sẽ tự xử lý tiếp khi "
        "đơn vị được thêm (handoff agency add)",
        "agency {agency} is not configured; waiting until it is added"),
    ReasonCode.AGENCY_DISABLED: (
        "đơn vị {agency} đang tạm ngừng; hồ sơ chờ, sẽ tự xử lý tiếp khi đơn vị hoạt động lại",
        "agency {agency} is disabled; waiting until it is enabled"),
    ReasonCode.AGENCY_READY: ("đơn vị {agency} đã hoạt động; hồ sơ được xử lý tiếp",
                              "agency {agency} is active; taken up again"),
    ReasonCode.CREDENTIALS_UNREADABLE: (
        "không mở được khóa tài khoản bưu điện của đơn vị {agency} (HANDOFF_CREDENTIALS_KEY "
        "thiếu khóa cũ?); sửa cấu hình rồi chạy lại việc này",
        "agency {agency}: its post-office credentials do not decrypt with "
        "HANDOFF_CREDENTIALS_KEY; fix the key, then replay"),
    ReasonCode.HANDOVER_RECORDED: ("đã lập biên bản bàn giao {number}",
                                   "on hand-over record {number}"),
    ReasonCode.HANDOVER_CONFIRMED: ("đã bàn giao theo biên bản {number}",
                                    "handed over by record {number}"),
    ReasonCode.HANDOVER_TAKEN: ("bưu điện báo đã nhận, biên bản {number}",
                                "the carrier took it, record {number}"),
    ReasonCode.HANDOVER_REPLACED: ("biên bản {number} được thay bằng biên bản {by}",
                                   "record {number} replaced by record {by}"),
    ReasonCode.HANDOVER_DROPPED: ("đã hủy, bỏ khỏi biên bản {number}",
                                  "cancelled, taken off record {number}"),
    ReasonCode.LEGACY: ("{text}", "{text}"),
}


def _status_vi(value: str) -> str:
    try:
        return LABEL_VI[Status(value)]
    except ValueError:
        return value


@dataclass(frozen=True)
class Reason:
    """Why: a code and its parameters (plain strings, so they store as JSON)."""

    code: ReasonCode
    params: Mapping[str, str] = field(default_factory=dict)

    def vi(self) -> str:
        return self._text(0)

    def en(self) -> str:
        return self._text(1)

    def _text(self, lang: int) -> str:
        return _render(self.code, tuple((k, str(v)) for k, v in self.params.items()), lang)


@lru_cache(maxsize=4096)
def _render(code: ReasonCode, params: tuple[tuple[str, str], ...], lang: int) -> str:
    """A reason's words, kept for the next row of the same reason: a tracking chunk logs
    hundreds of rows of a few reasons each ("applied", "already past it"), and building
    them again was 4 % of its samples (py-spy, bench.tracking_feed)."""
    p = dict(params)
    derived = {
        "current_vi": _status_vi(p.get("current", "")),
        "new_vi": _status_vi(p.get("new", "")),
        "status_vi": _status_vi(p.get("status", "")),
        "detail_vi": f", bỏ qua: {p['detail']}" if p.get("detail") else "",
        "detail_en": f" ignored: {p['detail']}" if p.get("detail") else "",
        "kind_vi": f" ({JOB_KIND_VI.get(p['kind'], p['kind'])})"  # type: ignore[call-overload]
        if p.get("kind") else "",
        "kind_en": f" {p['kind']}" if p.get("kind") else "",
    }
    why = p.get("why", "")
    if why:
        # the refusal's own reason, with its parameters (already_final names `current`)
        inner = stored(why, {k: v for k, v in p.items() if k != "why"})
        derived["why_vi"], derived["why_en"] = inner.vi(), inner.en()
    template = CATALOGUE[code][lang]
    try:
        return template.format(**{**derived, **p})
    except (KeyError, IndexError, ValueError):  # a parameter missing: say the code
        return f"{code} {p}"


def reason(code: ReasonCode, **params: object) -> Reason:
    return Reason(code, {k: str(v) for k, v in params.items() if v is not None})


def stored(code: str | None, params: Mapping[str, object] | None, text: str = "") -> Reason:
    """A reason as read back from the database; a row from before codes shows its text."""
    try:
        found = ReasonCode(code or "")
    except ValueError:
        return Reason(ReasonCode.LEGACY, {"text": text or (code or "")})
    return Reason(found, {k: str(v) for k, v in (params or {}).items()})
