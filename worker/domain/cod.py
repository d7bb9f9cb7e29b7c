"""Fee reconciliation (COD) rules: the carrier's two COD events, the month a hand-off's fee
belongs to, and how a hand-off's fee differs from what was expected. Pure: no I/O.

The carrier's feed says when the courier collected the fee from the citizen and when the
post office paid it to the agency; its contract carries no amount. An amount is compared
only when the carrier reported one: an unknown amount is never a mismatch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from worker.domain.errors import InvalidInput
from worker.domain.moments import day_start, elapsed, short
from worker.domain.statuses import Status


def money(amount: int) -> str:
    """15000 -> '15.000': an amount in đồng as Vietnamese write it (pages, paper, exports)."""
    return f"{amount:,}".replace(",", ".")


class CodEvent(StrEnum):
    COLLECTED = "collected"  # [COD] Đã thu tiền: the courier took the fee from the citizen
    REMITTED = "remitted"  # [COD] Trả tiền cho người gửi: the post office paid the agency


class Problem(StrEnum):
    """How a hand-off's fee differs, worst first (the order reports list them in)."""

    AMOUNT_MISMATCH = "amount_mismatch"
    NOT_REMITTED = "not_remitted"
    NOT_COLLECTED = "not_collected"


PROBLEM_VI: dict[Problem, str] = {
    Problem.AMOUNT_MISMATCH: "Số tiền bưu điện báo khác số tiền thu hộ",
    Problem.NOT_REMITTED: "Đã thu tiền nhưng bưu điện chưa trả",
    Problem.NOT_COLLECTED: "Đã phát nhưng chưa có tin thu tiền",
}

MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class CodFacts:
    """What is known of one hand-off's fee (datetimes timezone-aware)."""

    expected: int  # the hand-off's cod_amount, sent as CODAmount on the order
    status: str  # the hand-off's normalized status
    collected_at: datetime | None = None
    collected_amount: int | None = None  # None: the carrier reported no amount
    remitted_at: datetime | None = None
    remitted_amount: int | None = None
    delivered_at: datetime | None = None  # when the hand-off was delivered, if it was


def parse_month(text: str, field: str = "month") -> tuple[date, date]:
    """'2026-11' -> (first day of the month, first day of the next), or InvalidInput naming
    the field and saying what is expected."""
    found = MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None or not 1 <= int(found[2]) <= 12 or not 2000 <= int(found[1]) <= 9998:
        raise InvalidInput(f"tháng phải có dạng YYYY-MM (ví dụ 2026-11), không phải "
                           f"{str(text)[:20]!r}", field=field)
    year, month = int(found[1]), int(found[2])
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, 1), nxt


def month_window(text: str, field: str = "month") -> tuple[datetime, datetime]:
    """The month as [start, end) moments on the +07:00 clock (Vietnam time)."""
    first, nxt = parse_month(text, field)
    return day_start(first), day_start(nxt)


def overdue(facts: CodFacts, now: datetime, remit_days: float) -> bool:
    """Collected, not remitted, and more than `remit_days` days have passed since."""
    if facts.collected_at is None or facts.remitted_at is not None:
        return False
    return elapsed(facts.collected_at, now) > timedelta(days=remit_days)


def not_remitted_detail(collected_at: datetime, remit_days: float) -> str:
    """What ops read next to the SLA rule: the limit and the reference time."""
    return (f"Bưu điện chưa trả tiền thu hộ sau {remit_days:g} ngày kể từ khi thu lúc "
            f"{short(collected_at)}")


def problems(facts: CodFacts, now: datetime, remit_days: float,
             grace_days: float = 2.0) -> list[Problem]:
    """How this hand-off's fee differs from what was expected, worst first. A delivery
    without collection counts only `grace_days` after it: the feed tells the collection
    (code 6) after the delivery, at the courier's pace."""
    out: list[Problem] = []
    reported = (facts.collected_amount, facts.remitted_amount)
    if any(amount is not None and amount != facts.expected for amount in reported):
        out.append(Problem.AMOUNT_MISMATCH)
    if overdue(facts, now, remit_days):
        out.append(Problem.NOT_REMITTED)
    if (facts.expected > 0 and facts.status == Status.DELIVERED
            and facts.collected_at is None and (
                facts.delivered_at is None
                or elapsed(facts.delivered_at, now) > timedelta(days=grace_days))):
        out.append(Problem.NOT_COLLECTED)
    return out
