"""VNPost N-GSP wire <-> domain translation: paths, status table, order body, reply parsers,
HTTP classification. The tracking feed's pages are read in feed.py."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from vietnam_provinces import Province, Ward

from integrations.http_errors import retry_after
from worker.domain.cod import CodEvent
from worker.domain.errors import CancelRefused, PermanentError, TransientError
from worker.domain.model import CarrierOrder, Contact, PostOutcome
from worker.domain.privacy import scrub
from worker.domain.rules import MAX_ORDER_NUMBER
from worker.domain.statuses import Direction, Status

log = logging.getLogger(__name__)

# --- Wire details (a real deployment changes this block, not the client) -------------------
TOKEN_PATH = "token"
POST_PATH = "apiVNPostNGSP/p1.0/order/post"
TRACKING_PATH = "apiVNPostNGSP/p1.0/order/tracking"
CANCEL_PATH = "apiVNPostNGSP/p1.0/order/cancel"
FIRST_CURSOR = "0" * 24
MAX_PAGE_SIZE = 1000
ACCEPTED, ALREADY_EXISTS = 100, 101
# Longest text kept from a tracking doc (the columns of worker/db/models/), largest code.
MAX_ITEM_CODE, MAX_POST_OFFICE, MAX_STATUS_TEXT, MAX_NOTES = 20, 40, 400, 2000
MAX_STATUS_CODE = 10**9

# code -> (normalized status or None when informational, carrier's Vietnamese text)
STATUS_TABLE: dict[int, tuple[Status | None, str]] = {
    0: (None, "Chưa có thông tin"),
    1: (Status.PICKED_UP, "Chấp nhận gửi"),
    2: (Status.IN_TRANSIT, "Đang trên tuyến vận chuyển"),
    3: (Status.AT_DELIVERY_OFFICE, "Đã đến bưu cục phát"),
    4: (Status.DELIVERY_FAILED, "Chưa phát được"),
    5: (Status.DELIVERED, "Phát thành công"),
    6: (None, "[COD] Đã thu tiền"),
    7: (Status.RETURNING, "Chuyển hoàn"),
    8: (None, "[COD] Trả tiền cho người gửi"),
    9: (Status.RETURNED, "Phát hoàn thành công"),
    10: (Status.IN_TRANSIT, "Đã đến bưu cục (tỉnh)"),
    11: (Status.DELIVERED, "Giao hàng thành công"),
    13: (Status.PICKUP_FAILED, "Đến lấy nhưng chưa có hàng lần 1"),
    14: (Status.PICKUP_FAILED, "Đến lấy nhưng chưa có hàng lần 2"),
    15: (Status.PICKUP_FAILED, "Đến lấy nhưng chưa có hàng lần 3"),
    16: (Status.PICKUP_FAILED, "Đến lấy nhưng chưa có hàng lần ≥3"),
}


# The feed's fee codes (informational: they move no status; worker/service/flow/cod.py)
COD_CODES: dict[int, CodEvent] = {6: CodEvent.COLLECTED, 8: CodEvent.REMITTED}


def lookup_status(code: int) -> tuple[Status | None, bool]:
    """(normalized status, known_code); unknown codes move nothing."""
    if code in STATUS_TABLE:
        return STATUS_TABLE[code][0], True
    return None, False


class TokenRejected(TransientError):
    """HTTP 401 on an API call: the client drops its token and tries once more."""


class BurstError(TransientError):
    """A short outage (transport error, timeout, 5xx or 408 without Retry-After): worth
    retrying within seconds."""


def holds_account(status_code: int, wait: float | None) -> bool:
    """Whether a reply holds the whole account (in the shared quota store, every process):
    a 429, or a 5xx that says how long the post office is down (Retry-After above 0)."""
    return status_code == 429 or (status_code >= 500 and wait is not None and wait > 0)


def _full_address(contact: Contact) -> str:
    """Street plus ward and province names, so the courier can find the place."""
    parts = [contact.address.street.strip()]
    try:
        parts.append(Ward.from_code(int(contact.address.ward_code)).name)  # type: ignore[arg-type]
        parts.append(Province.from_code(int(contact.address.province_code)).name)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    return ", ".join(p for p in parts if p)


def _party(prefix: str, contact: Contact, field: str) -> dict[str, Any]:
    """One side of the order. Its carrier area codes were filled from the post office's
    area table before the order reached the adapter (worker/service/agencies/areas.py); a ward that
    table does not map is refused here, for good, naming the field."""
    area = contact.address.carrier_area
    if area is None:
        raise PermanentError(
            f"xã/phường mã {contact.address.ward_code} (tỉnh mã "
            f"{contact.address.province_code}) chưa có mã vùng của bưu điện; "
            "đề nghị bổ sung bảng mã (handoff areas import)",
            field=field,
        )
    province, district = area
    return {
        f"{prefix}Name": contact.name,
        f"{prefix}Address": _full_address(contact),
        f"{prefix}Tel": contact.phone,
        f"{prefix}Email": contact.email or "",
        f"{prefix}Province": province,
        f"{prefix}District": district,
    }


def build_order_body(order: CarrierOrder, customer_code: str) -> dict[str, Any]:
    """The PascalCase body of order/post. Who is 'citizen' depends on the direction."""
    if not order.order_number or len(order.order_number) > MAX_ORDER_NUMBER:
        raise PermanentError(
            f"mã đơn phải có từ 1 đến {MAX_ORDER_NUMBER} ký tự", field="orderNumber"
        )
    delivery = order.direction == Direction.RESULT_DELIVERY
    sender_field = "agency.wardCode" if delivery else "citizen.wardCode"
    receiver_field = "citizen.wardCode" if delivery else "agency.wardCode"
    return {
        "CustomerCode": customer_code,
        "OrderNumber": order.order_number,
        "CODAmount": int(order.cod_amount),
        **_party("Sender", order.sender, sender_field),
        "SenderDesc": order.sender_desc,
        "Description": order.description,
        **_party("Receiver", order.receiver, receiver_field),
    }


# --- Replies ------------------------------------------------------------------------------
def _status_of(body: object) -> tuple[int, str]:
    """Status (int, or a string on the LGSP route) and Message of a reply body."""
    if not isinstance(body, Mapping):
        raise TransientError("bưu điện trả lời không đúng định dạng (không phải JSON object)")
    raw = body.get("Status")
    try:
        status = int(str(raw).strip())
    except (TypeError, ValueError):
        raise TransientError(
            f"bưu điện trả lời thiếu Status hợp lệ: {scrub(str(raw))[:50]}"
        ) from None
    return status, str(body.get("Message") or "")


def parse_post_reply(status_code: int, body: dict) -> PostOutcome:
    """HTTP status + body of order/post -> PostOutcome, or the classified error."""
    err = classify_http(status_code, {}, str(body)[:200])
    if err is not None:
        raise err
    status, message = _status_of(body)
    if status == ACCEPTED:
        return PostOutcome(already_existed=False, message=message)
    if status == ALREADY_EXISTS:
        return PostOutcome(already_existed=True, message=message)
    raise PermanentError(
        f"Bưu điện từ chối đơn: {scrub(message) or 'không rõ lý do'}", code=str(status)
    )


def parse_cancel_reply(body: dict) -> str:
    """The Message of a cancel the carrier accepted (Status 100); any other Status raises
    CancelRefused.

    Contract section 4 defines only 100 as "cancelled"; every other Status is a refusal
    (typically: the courier already took the item). An answer the contract does not define
    as success is never read as success, nor as "no such order". A reply without a Status
    is no answer at all: transient, like a post's.
    """
    if not isinstance(body, Mapping):
        raise TransientError("bưu điện trả lời không đúng định dạng (không phải JSON object)")
    status = body.get("Status")
    raw = "" if status is None else scrub(str(status).strip())[:20]
    if not raw:
        raise TransientError("bưu điện trả lời yêu cầu hủy mà không có Status")
    message = scrub(str(body.get("Message") or ""))[:300]
    if raw == str(ACCEPTED):  # "100" or 100 (the LGSP route sends a string)
        return message
    raise CancelRefused(
        f"bưu điện từ chối hủy đơn (Status {raw}): {message or 'không rõ lý do'}", code=raw
    )


def cancel_params(customer_code: str, order_number: str) -> dict[str, str]:
    return {"CustomerCode": customer_code, "OrderNumber": order_number}


def classify_http(status_code: int, headers: Mapping[str, str], body_text: str) -> Exception | None:
    """None for success; otherwise the error to raise, with personal data scrubbed."""
    if status_code < 400:
        return None
    snippet = scrub(body_text or "")[:200]
    wait = retry_after(headers)
    if status_code == 401:
        return TokenRejected("bưu điện từ chối mã truy cập (HTTP 401)")
    if status_code == 429:
        return TransientError("bưu điện báo gửi quá nhiều yêu cầu (HTTP 429)", retry_after=wait)
    if status_code >= 500 and holds_account(status_code, wait):
        # the post office is down and said until when: no short retries, the ledger waits
        return TransientError(f"bưu điện tạm ngừng phục vụ (HTTP {status_code}), "
                              f"hẹn thử lại sau {wait:.0f} giây", retry_after=wait)
    if status_code >= 500 or status_code == 408:
        return BurstError(f"bưu điện tạm thời lỗi (HTTP {status_code})")
    reasons = {
        403: "bưu điện từ chối quyền truy cập; kiểm tra khóa khách hàng và mã khách hàng",
        404: "không tìm thấy dịch vụ của bưu điện; kiểm tra địa chỉ cấu hình",
    }
    reason = reasons.get(status_code, f"bưu điện không chấp nhận yêu cầu: {snippet}")
    return PermanentError(f"{reason} (HTTP {status_code})", code=f"HTTP {status_code}")
