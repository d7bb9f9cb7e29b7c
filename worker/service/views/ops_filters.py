"""The ops list's filters and search text, read from a URL once: a value that cannot be
used is dropped or clamped, and a note in Vietnamese says so; nothing reaches a query that
a database driver or a date conversion would refuse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from worker.domain.errors import InvalidInput
from worker.domain.statuses import Direction, Status
from worker.domain.text import clean_text, safe_display

QUERY_MAX = 80  # longer than any dossier code, item code, order number or phone
# Date filters outside this window are no dates anyone means: a bound before it means "from
# the start", after it "to the end"; inside the window every calendar day exists at +07:00
# and in UTC, so no bound can overflow a conversion or a driver.
FILTER_FIRST, FILTER_LAST = date(2000, 1, 1), date(2100, 1, 1)


@dataclass(frozen=True)
class Filters:
    status: str = ""
    direction: str = ""
    agency: str = ""
    date_from: date | None = None
    date_to: date | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)  # Vietnamese: what was changed

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """From query parameters. A value that cannot be used is dropped or clamped, and
        `notes` says so in Vietnamese, rather than failing the page."""
        notes: list[str] = []
        status = _choice(params, "status", "Trạng thái", {s.value for s in Status}, notes)
        direction = _choice(params, "direction", "Chiều", {d.value for d in Direction}, notes)
        try:
            agency = clean_text(params.get("agency"), "agency", max_len=40, what="mã cơ quan")
        except InvalidInput as err:
            agency = ""
            notes.append(f"Bỏ lọc theo cơ quan: {err.reason}.")
        return cls(status=status, direction=direction, agency=agency,
                   date_from=_bound(params, "from", "Từ ngày", notes, lower=True),
                   date_to=_bound(params, "to", "Đến ngày", notes, lower=False),
                   notes=tuple(notes))

    def query(self) -> dict[str, str]:
        """The same filters as query parameters (for paging and CSV links)."""
        out = {"status": self.status, "direction": self.direction, "agency": self.agency,
               "from": self.date_from.isoformat() if self.date_from else "",
               "to": self.date_to.isoformat() if self.date_to else ""}
        return {k: v for k, v in out.items() if v}


def _choice(params: Mapping[str, str], name: str, label_vi: str, allowed: set[str],
            notes: list[str]) -> str:
    value = params.get(name, "").strip()
    if value and value not in allowed:
        notes.append(f"{label_vi} “{safe_display(value, 40)}” không có; bỏ lọc này.")
        return ""
    return value


def _bound(params: Mapping[str, str], name: str, label_vi: str, notes: list[str], *,
           lower: bool) -> date | None:
    """A date filter within [FILTER_FIRST, FILTER_LAST], or None (no bound)."""
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        d = date.fromisoformat(raw)
    except ValueError:
        notes.append(f"{label_vi} “{safe_display(raw, 40)}” không phải ngày (cần dạng "
                     f"2026-11-26); bỏ lọc này.")
        return None
    if FILTER_FIRST <= d <= FILTER_LAST:
        return d
    window = f"{FILTER_FIRST:%d/%m/%Y} – {FILTER_LAST:%d/%m/%Y}"
    if (d < FILTER_FIRST) == lower:  # before the start / after the end: no bound at all
        notes.append(f"{label_vi} {d.isoformat()} nằm ngoài khoảng {window}; không giới hạn.")
        return None
    edge = FILTER_FIRST if d < FILTER_FIRST else FILTER_LAST
    notes.append(f"{label_vi} {d.isoformat()} nằm ngoài khoảng {window}; đã dùng "
                 f"{edge:%d/%m/%Y}.")
    return edge


def clean_query(raw: str | None) -> tuple[str, str]:
    """The search text made safe (no NUL or lone surrogate reaches the database), and the
    Vietnamese reason when it was refused ("" when fine)."""
    try:
        return clean_text(raw, "q", max_len=QUERY_MAX, what="nội dung tìm kiếm"), ""
    except InvalidInput as err:
        return "", f"Không tìm được: {err.reason}."
