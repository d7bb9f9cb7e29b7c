"""The project's closed sets (besides Status and Direction in statuses.py), and their labels.

A string literal of one of these sets outside its enum is a smell: compare and store the
enum members (they are `str`, so the database and JSON see the same values as before).
"""

from __future__ import annotations

from datetime import timedelta, timezone
from enum import StrEnum

# The one-stop world's local time (contract: ISO 8601 with +07:00).
VN_TZ = timezone(timedelta(hours=7), "+07:00")
# Most dossier codes a desk request may carry (page and API alike).
MAX_DESK_CODES = 500


class JobState(StrEnum):
    """A ledger row's state."""

    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


class JobKind(StrEnum):
    """A kind of effect on the outside world; each has one handler."""

    POST_ORDER = "post_order"
    CANCEL_ORDER = "cancel_order"
    PUSH_STATUS = "push_status"
    NOTIFY = "notify"


# Keyed by members; typed by str, since lookups use the stored (plain str) values.
JOB_KIND_VI: dict[str, str] = {
    JobKind.POST_ORDER: "gửi yêu cầu bưu chính",
    JobKind.CANCEL_ORDER: "hủy đơn",
    JobKind.PUSH_STATUS: "báo trạng thái về một cửa",
    JobKind.NOTIFY: "báo trễ hạn",
}


class DeskOutcomeKind(StrEnum):
    """What came of one dossier of a desk action (page, API, CLI)."""

    ORDERED = "ordered"
    ALREADY_ORDERED = "already_ordered"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    CANCEL_REQUESTED = "cancel_requested"


DESK_OUTCOME_VI: dict[str, str] = {
    DeskOutcomeKind.ORDERED: "Đã gọi bưu tá",
    DeskOutcomeKind.ALREADY_ORDERED: "Đã gọi bưu tá trước đó",
    DeskOutcomeKind.REFUSED: "Không thực hiện được",
    DeskOutcomeKind.CANCELLED: "Đã hủy",
    DeskOutcomeKind.CANCEL_REQUESTED: "Đã gửi yêu cầu hủy tới bưu điện",
}


class IngestOutcome(StrEnum):
    """What came of taking one one-stop item (the webhook's `outcome`)."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    IGNORED = "ignored"
    CANCELLED = "cancelled"


class AttemptOutcome(StrEnum):
    """How one try of a ledger row ended."""

    OK = "ok"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    EXHAUSTED = "exhausted"
    # Nothing was sent: the job waits for a person or a change (its agency disabled or
    # unknown, its credentials unreadable), never an answer of the other side.
    HELD = "held"


class Role(StrEnum):
    """What a person may do: ops replay and change settings; desk staff act for one agency."""

    OPS = "ops"
    DESK = "desk"


class DispatchMode(StrEnum):
    """When an agency's orders are posted: at once, or when the desk calls the courier."""

    AUTO = "auto"
    DESK = "desk"


DISPATCH_MODE_VI: dict[str, str] = {
    DispatchMode.AUTO: "Tự động (gửi ngay khi có hồ sơ)",
    DispatchMode.DESK: "Tại bàn một cửa (chờ cán bộ bấm Gọi bưu tá)",
}


class Route(StrEnum):
    """The way an agency's orders reach the post office; each member is described by its
    RouteSpec (worker/domain/routes.py: letter, label, settings, simulator door)."""

    NGSP = "ngsp"  # route A: straight to the national N-GSP gateway
    LGSP = "lgsp"  # route B: through the province's LGSP


class EventSource(StrEnum):
    """Where a status-log entry came from (the log's `source` column, at most 16 chars)."""

    CARRIER_FEED = "feed"
    CARRIER_PUSH = "carrier-push"
    WEBHOOK = "webhook"
    ONESTOP_FEED = "onestop-feed"
    ONESTOP = "onestop"
    DESK = "desk"
    WORKER = "worker"
    OPS = "ops"


SOURCE_VI: dict[str, str] = {
    EventSource.CARRIER_FEED: "bưu chính (luồng theo dõi)",
    EventSource.CARRIER_PUSH: "bưu chính (báo tin)",
    EventSource.WEBHOOK: "một cửa (báo tin)",
    EventSource.ONESTOP_FEED: "một cửa",
    EventSource.ONESTOP: "một cửa",
    EventSource.DESK: "bàn một cửa",
    EventSource.WORKER: "hệ thống",
    EventSource.OPS: "vận hành",
}
