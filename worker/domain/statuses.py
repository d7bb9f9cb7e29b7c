"""Normalized hand-off statuses, ranked so that 'forward' is a comparison."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    PICKUP_FAILED = "pickup_failed"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    AT_DELIVERY_OFFICE = "at_delivery_office"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    RETURNING = "returning"
    DELIVERED = "delivered"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"


class PostalEvent(StrEnum):
    """What the one-stop system is told that is not a postal status (contract section 3):
    it is recorded in the dossier's postal history and moves no status on either side."""

    WITHDRAWAL_REFUSED = "withdrawal_refused"  # the courier has the item already


def told_as(value: str) -> Status | PostalEvent:
    """A stored push-back's `status` as what it tells (raises ValueError for neither)."""
    try:
        return Status(value)
    except ValueError:
        return PostalEvent(value)


class Direction(StrEnum):
    RESULT_DELIVERY = "result_delivery"
    PICKUP = "pickup"


# needs_attention ranks with requested: any real carrier progress moves it on, and a
# replay puts it back to requested. out_for_delivery and delivery_failed share a rank
# because a failed attempt may be followed by another round of delivery.
RANK: dict[Status, int] = {
    Status.NEEDS_ATTENTION: 0,
    Status.REQUESTED: 0,
    Status.ACCEPTED: 1,
    Status.PICKUP_FAILED: 2,
    Status.PICKED_UP: 3,
    Status.IN_TRANSIT: 4,
    Status.AT_DELIVERY_OFFICE: 5,
    Status.OUT_FOR_DELIVERY: 6,
    Status.DELIVERY_FAILED: 6,
    Status.RETURNING: 7,
    Status.DELIVERED: 9,
    Status.RETURNED: 9,
    Status.CANCELLED: 9,
}

FINAL: frozenset[Status] = frozenset({Status.DELIVERED, Status.RETURNED, Status.CANCELLED})

# A status that may be reported again by a new event (each is a new attempt worth telling).
REPEATABLE: frozenset[Status] = frozenset({Status.PICKUP_FAILED, Status.DELIVERY_FAILED})

# What a desk clerk reads.
LABEL_VI: dict[Status, str] = {
    Status.REQUESTED: "Chờ gửi yêu cầu bưu chính",
    Status.ACCEPTED: "Bưu chính đã nhận yêu cầu, chờ bưu tá",
    Status.PICKUP_FAILED: "Bưu tá đến lấy nhưng chưa có hồ sơ",
    Status.PICKED_UP: "Bưu tá đã nhận",
    Status.IN_TRANSIT: "Đang vận chuyển",
    Status.AT_DELIVERY_OFFICE: "Đã đến bưu cục phát",
    Status.OUT_FOR_DELIVERY: "Đang phát",
    Status.DELIVERY_FAILED: "Phát không thành công",
    Status.RETURNING: "Đang chuyển hoàn",
    Status.DELIVERED: "Phát thành công",
    Status.RETURNED: "Đã chuyển hoàn",
    Status.CANCELLED: "Đã hủy",
    Status.NEEDS_ATTENTION: "Cần xử lý",
}


def status_label(status: str | None) -> str:
    """What a clerk reads for a stored status: '' for none, the stored value itself for one
    this version does not know (never raises)."""
    try:
        return LABEL_VI[Status(status)] if status else ""
    except ValueError:
        return status or ""


def is_final(status: Status) -> bool:
    return status in FINAL
