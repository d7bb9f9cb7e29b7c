"""SLA rules: which promises a hand-off has broken at a given moment. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from worker.domain.moments import elapsed, short
from worker.domain.statuses import FINAL, LABEL_VI, RANK, Status


class Rule(StrEnum):
    NOT_ACCEPTED = "not_accepted"
    NOT_PICKED_UP = "not_picked_up"
    NOT_DELIVERED = "not_delivered"
    SILENT = "silent"
    DELIVERY_FAILED = "delivery_failed"
    NEEDS_ATTENTION = "needs_attention"
    PUSH_FAILED = "push_failed"  # a status the one-stop refused for good (e.g. 422)
    COD_NOT_REMITTED = "cod_not_remitted"  # a collected fee not paid to the agency in time
    HANDOVER_NOT_TAKEN = "handover_not_taken"  # on a hand-over record, the carrier silent


# What ops read next to the rule name.
RULE_LABEL_VI: dict[Rule, str] = {
    Rule.NOT_ACCEPTED: "Bưu chính chưa nhận yêu cầu",
    Rule.NOT_PICKED_UP: "Bưu tá chưa đến lấy",
    Rule.NOT_DELIVERED: "Chưa phát xong",
    Rule.SILENT: "Không có cập nhật",
    Rule.DELIVERY_FAILED: "Phát không thành công",
    Rule.NEEDS_ATTENTION: "Cần xử lý",
    Rule.PUSH_FAILED: "Không báo được trạng thái về hệ thống một cửa",
    Rule.COD_NOT_REMITTED: "Bưu điện chưa trả tiền thu hộ",
    Rule.HANDOVER_NOT_TAKEN: "Đã lập biên bản bàn giao, bưu điện chưa báo nhận",
}

# "Worst first": a higher number is worse (an error someone must act on beats a delay).
SEVERITY: dict[str, int] = {
    Rule.NEEDS_ATTENTION: 60,
    Rule.PUSH_FAILED: 55,
    Rule.DELIVERY_FAILED: 50,
    Rule.COD_NOT_REMITTED: 45,
    Rule.NOT_DELIVERED: 40,
    Rule.SILENT: 30,
    Rule.HANDOVER_NOT_TAKEN: 25,
    Rule.NOT_PICKED_UP: 20,
    Rule.NOT_ACCEPTED: 10,
}


# Judged from other tables than the hand-off's status (the ledger, the fee records), final
# hand-off or not: the status pass neither opens nor clears them.
OUTSIDE_STATUS: frozenset[str] = frozenset({Rule.PUSH_FAILED, Rule.COD_NOT_REMITTED})


@dataclass(frozen=True)
class Snapshot:
    """The fields of a hand-off the rules read (all datetimes timezone-aware)."""

    status: str
    ready_at: datetime
    accepted_at: datetime | None = None
    last_event_at: datetime | None = None
    final_at: datetime | None = None
    # the hand-over record it is on and not settled by the carrier (open, or closed at the
    # desk): when it was made, its number (worker/service/flow/handover.py)
    handover_at: datetime | None = None
    handover_number: str | None = None


@dataclass(frozen=True)
class Limits:
    """The SLA settings, in the units the settings use."""

    accept_within_minutes: float = 60
    pickup_within_hours: float = 24
    deliver_within_days: float = 5
    silent_hours: float = 72
    handover_within_hours: float = 8  # a record made, the carrier tells nothing taken


def _num(x: float) -> str:
    return f"{x:g}"


def _over(since: datetime, now: datetime, **limit: float) -> bool:
    """More than `limit` passed from `since` to `now`. Compared as a difference, never as
    `since + limit` (a stored year-9999 moment plus a day does not exist)."""
    try:
        return elapsed(since, now) > timedelta(**limit)
    except OverflowError:  # a limit too large for a timedelta is never reached
        return False


def broken(h: Snapshot, now: datetime, limits: Limits) -> list[tuple[Rule, str]]:
    """The rules `h` breaks at `now`, each with a detail in Vietnamese for ops.

    Every deadline counts from `ready_at` (when the one-stop announced the hand-off: the
    moment the citizen's wait starts). A final hand-off breaks nothing. The detail names the
    limit and the reference time, not the elapsed time, so it does not change run to run.
    """
    try:
        status = Status(h.status)
    except ValueError:
        return []  # an unknown status is a data problem, not an SLA breach
    if status in FINAL:
        return []
    out: list[tuple[Rule, str]] = []
    since = f"kể từ khi có yêu cầu lúc {short(h.ready_at)}"
    rank = RANK[status]
    if rank < RANK[Status.ACCEPTED] and _over(h.ready_at, now,
                                              minutes=limits.accept_within_minutes):
        out.append((Rule.NOT_ACCEPTED, f"Bưu chính chưa nhận yêu cầu sau "
                    f"{_num(limits.accept_within_minutes)} phút {since}"))
    if rank < RANK[Status.PICKED_UP] and _over(h.ready_at, now,
                                               hours=limits.pickup_within_hours):
        out.append((Rule.NOT_PICKED_UP, f"Bưu tá chưa lấy hồ sơ sau "
                    f"{_num(limits.pickup_within_hours)} giờ {since}"))
    if _over(h.ready_at, now, days=limits.deliver_within_days):
        out.append((Rule.NOT_DELIVERED, f"Chưa phát xong sau "
                    f"{_num(limits.deliver_within_days)} ngày {since}"))
    last = h.ready_at  # the latest sign of life (compared as differences: any zone mixes)
    for t in (h.accepted_at, h.last_event_at):
        if t is not None and elapsed(last, t) > timedelta(0):
            last = t
    if _over(last, now, hours=limits.silent_hours):
        out.append((Rule.SILENT, f"Không có cập nhật nào trong "
                    f"{_num(limits.silent_hours)} giờ, lần cuối lúc {short(last)}"))
    if h.handover_at is not None and _over(h.handover_at, now,
                                           hours=limits.handover_within_hours):
        out.append((Rule.HANDOVER_NOT_TAKEN, f"Biên bản bàn giao {h.handover_number} lập lúc "
                    f"{short(h.handover_at)}: bưu điện chưa báo nhận sau "
                    f"{_num(limits.handover_within_hours)} giờ"))
    if status == Status.DELIVERY_FAILED:
        out.append((Rule.DELIVERY_FAILED, f"Trạng thái: {LABEL_VI[status]}"))
    if status == Status.NEEDS_ATTENTION:
        out.append((Rule.NEEDS_ATTENTION, f"Trạng thái: {LABEL_VI[status]}"))
    return out


def severity(rule: str) -> int:
    return SEVERITY.get(rule, 0)


def rule_label(rule: str) -> str:
    try:
        return RULE_LABEL_VI[Rule(rule)]
    except ValueError:
        return rule
