"""The carrier's status push (contract "Status push"): headers, the push codes as data,
the body read into a TrackingEvent, and the signature check.

Some VNPost products POST each status of an order to a URL the customer registers, besides
the tracking feed. The push speaks its own code table (not the feed's): both are mapped
here to the same normalized statuses, so that the state machine sees one milestone
whichever way it came. Wire details stay in this module, as for the feed in wire.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from integrations.carriers.vnpost.wire import (
    MAX_ITEM_CODE,
    MAX_NOTES,
    MAX_POST_OFFICE,
    MAX_STATUS_CODE,
    MAX_STATUS_TEXT,
)
from worker.domain import json_input
from worker.domain.enums import VN_TZ
from worker.domain.errors import InvalidInput
from worker.domain.model import TrackingEvent
from worker.domain.privacy import scrub
from worker.domain.rules import MAX_ORDER_NUMBER
from worker.domain.signatures import PushKey  # re-exported: the wire's signature check
from worker.domain.statuses import Status
from worker.domain.text import check_moment, safe_display, sanitize_text

log = logging.getLogger(__name__)

# --- Wire details (a real deployment changes this block) ------------------------------------
HEADER_SIGNATURE = "ems-signature"
HEADER_TRANSACTION = "ems-transaction"
SUCCESS, ERROR = "success", "error"  # the answer's "code"
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"  # local time (+07:00), no zone on the wire
MAX_TRANSACTION = 100  # the receipts' column; the carrier's ids are far shorter

# push code -> (normalized status or None when informational, the carrier's Vietnamese)
#
# The same milestone must map to the same Status as in the feed's table (mapping.STATUS_TABLE),
# or a push and the feed would log it twice. Choices where the two tables do not line up:
# - 1 "Đã tạo" and 2 "Chờ lấy hàng" are informational: the order exists and waits for the
#   courier. `accepted` is the worker's own milestone, set when the post office answers our
#   post (jobs/post_order settles it, with its bookkeeping); the feed has no such code either.
# - 5 "Đang phát hàng" is the postman out with the item: Status.OUT_FOR_DELIVERY ("Đang
#   phát"), one rank after the feed's 3 "Đã đến bưu cục phát" (at_delivery_office), which this
#   product does not push. 6 "Phát không thành công" then 5 again is another delivery round.
# - 9 "Đơn hàng hủy" (the post office cancelled the order) is informational. `cancelled` is
#   final and means the dossier's hand-off was withdrawn on our side (desk or one-stop); when
#   we asked for the cancel, the hand-off is already cancelled and this only confirms it;
#   when we did not, ending the hand-off quietly would leave a citizen's result undelivered
#   with no one told. So it is logged (its text in the status log, a warning in the logs)
#   for ops to look at, and the feed's later events still apply.
# - 12 "Trạng thái khác" says nothing we can act on: informational.
PUSH_STATUS_TABLE: dict[int, tuple[Status | None, str]] = {
    1: (None, "Đã tạo"),
    2: (None, "Chờ lấy hàng"),
    3: (Status.PICKED_UP, "Đã lấy hàng"),
    4: (Status.IN_TRANSIT, "Đang vận chuyển"),
    5: (Status.OUT_FOR_DELIVERY, "Đang phát hàng"),
    6: (Status.DELIVERY_FAILED, "Phát không thành công"),
    7: (Status.DELIVERED, "Phát thành công"),
    8: (Status.RETURNING, "Chuyển hoàn"),
    9: (None, "Đơn hàng hủy"),
    12: (None, "Trạng thái khác"),
    13: (Status.RETURNED, "Phát hoàn thành công"),
}
CARRIER_CANCELLED = 9  # logged with a warning: see above


class BadPush(ValueError):
    """A signed push we cannot take: `field` names what is wrong, `reason` is Vietnamese."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def sign(secret: str, body: bytes) -> str:
    """The `ems-signature` of `body`: lowercase hex of HMAC-SHA256(secret, raw body)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """True when `signature` is the body's signature under `secret` (PushKey.verify). An
    empty secret (no push secret configured) verifies nothing."""
    return bool(secret) and PushKey(secret).verify(body, signature)


def transaction_of(raw: str | None) -> str:
    """The `ems-transaction` id as we store it; BadPush when missing or unusable."""
    value = sanitize_text(raw, MAX_TRANSACTION + 1)
    if not value or len(value) > MAX_TRANSACTION or value != (raw or "").strip():
        raise BadPush(HEADER_TRANSACTION,
                      f"thiếu mã giao dịch ({HEADER_TRANSACTION}) hợp lệ, tối đa "
                      f"{MAX_TRANSACTION} ký tự")
    return value


def parse_push(body: bytes, transaction: str) -> TrackingEvent:
    """A verified push body -> TrackingEvent (read_push without the content key)."""
    return read_push(body, transaction)[0]


def read_push(body: bytes, transaction: str) -> tuple[TrackingEvent, str]:
    """A verified push body -> (TrackingEvent with event_id = the transaction id, the
    push's content key).

    BadPush when it is not a JSON object or names no order (neither `order_code` nor
    `tracking_code`): nothing could be attributed. Anything else odd never raises: a code
    or time we cannot use gives an event that is logged and moves nothing (as in the feed).
    The order number may be "" when only `tracking_code` came: the caller finds the order
    by its item code.
    """
    try:
        data = json_input.loads(body)
    except InvalidInput as err:
        raise BadPush("body", err.reason) from None
    if not isinstance(data, Mapping):
        raise BadPush("body", "nội dung phải là một đối tượng JSON")
    order_number = _order_number_of(data.get("order_code"))
    item_code = sanitize_text(data.get("tracking_code"), MAX_ITEM_CODE)
    if not order_number and not item_code:
        raise BadPush("order_code", "thiếu order_code và tracking_code: không biết của đơn nào")
    return (_event(data, transaction, order_number, item_code),
            _content_key(data, order_number, item_code))


def _content_key(data: Mapping[str, Any], order_number: str, item_code: str) -> str:
    """What makes two pushes the same milestone, whatever their transaction ids: the order
    (the item code only when no order number came), the status code and the time, each as
    read (a code given as "7" or 7, a time with stray spaces: the same) or, when it cannot
    be read, as it came. Notes, post office and weight are not in it: they describe the
    milestone, they do not make another. A SHA-256 in hex, the receipts' column."""
    parts = [order_number or f"item:{item_code}",
             _read_or_raw(data.get("status_code"), _as_code),
             _read_or_raw(data.get("datetime"), lambda v: int(parse_time(v).timestamp()))]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=True).encode("ascii")).hexdigest()


def _read_or_raw(value: object, read: Callable[[object], int]) -> object:
    try:
        return read(value)
    except (TypeError, ValueError, OverflowError):
        return {"raw": value}


def _event(data: Mapping[str, Any], transaction: str, order_number: str,
           item_code: str) -> TrackingEvent:
    try:
        code = _as_code(data.get("status_code"))
        occurred = check_moment(parse_time(data.get("datetime")), "datetime")
        status, known = lookup_push_status(code)
        text = sanitize_text(data.get("status_name"), MAX_STATUS_TEXT) or (
            PUSH_STATUS_TABLE[code][1] if known else "")
        if not known:
            log.warning("unknown carrier push status code %s on order %s", code, order_number)
        elif code == CARRIER_CANCELLED:
            log.warning("the carrier reports order %s cancelled (push %s)", order_number,
                        transaction)
    except (TypeError, ValueError, OverflowError, InvalidInput) as exc:
        # Recorded, not dropped: ops see it in the status log and it moves no state; the
        # time we read it stands in for a time the push did not give us.
        code, occurred, status, known = -1, datetime.now(UTC), None, False
        text = (f"tin báo không hợp lệ ({type(exc).__name__}): status_code="
                f"{safe_display(data.get('status_code'), 40)}, datetime="
                f"{safe_display(data.get('datetime'), 40)}")
    return TrackingEvent(
        event_id=transaction, order_number=order_number, item_code=item_code or None,
        occurred_at=occurred, raw_code=code, raw_text=scrub(text)[:MAX_STATUS_TEXT],
        status=status, known_code=known,
        post_office=sanitize_text(data.get("locate"), MAX_POST_OFFICE),
        notes=scrub(sanitize_text(data.get("note"), MAX_NOTES)),
    )


def lookup_push_status(code: int) -> tuple[Status | None, bool]:
    """(normalized status, known_code); an unknown code moves nothing."""
    if code in PUSH_STATUS_TABLE:
        return PUSH_STATUS_TABLE[code][0], True
    return None, False


def parse_time(value: object) -> datetime:
    """"27/11/2026 10:02:00" (local, +07:00) -> aware datetime; ValueError otherwise."""
    if not isinstance(value, str):
        raise TypeError("datetime is not text")
    return datetime.strptime(value.strip(), TIME_FORMAT).replace(tzinfo=VN_TZ)


def format_time(moment: datetime) -> str:
    """The wire form of an aware moment (what the carrier sends; the simulator uses it)."""
    return moment.astimezone(VN_TZ).strftime(TIME_FORMAT)


def _as_code(value: object) -> int:
    """status_code as an int (a number or its digits as text); TypeError/ValueError else."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError("status_code is not a number")
    code = int(value.strip()) if isinstance(value, str) else value
    if abs(code) >= MAX_STATUS_CODE:
        raise ValueError("status_code out of range")
    return code


def _order_number_of(value: object) -> str:
    """order_code; a longer one than ours can be is cut, ending with "…" (never in ours), so
    it matches no hand-off and the push is logged as "order not known"."""
    number = sanitize_text(value, 4 * MAX_ORDER_NUMBER)
    if len(number) <= MAX_ORDER_NUMBER:
        return number
    return number[: MAX_ORDER_NUMBER - 1] + "…"


def answer(code: str, transaction: str, reason: str = "") -> dict[str, str]:
    """The body the carrier expects back; `reason` (ours, Vietnamese) only on an error."""
    body = {"code": code, "transaction": transaction}
    return {**body, "reason": reason} if reason else body
