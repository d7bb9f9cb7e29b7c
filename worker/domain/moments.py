"""Stored moments made safe to show and to compute with: formatting and arithmetic that never
raise, whatever year a row holds (1, 9999) or whether it lost its time zone.

Input doors refuse such dates (domain/text.check_moment); rows stored before that, or by a
future bug, still reach the pages, the CSV, the CLI, the SLA pass and the metrics. Every
formatter of a stored date goes through here, so none of them can take a page down.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from worker.domain.enums import VN_TZ

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
NONE_SHOWN = "—"


def aware(dt: datetime) -> datetime:
    """`dt` with a zone: a naive value is taken as UTC (how every column stores it)."""
    return dt if dt.tzinfo is not None and dt.utcoffset() is not None else dt.replace(
        tzinfo=UTC)


def as_utc(dt: datetime) -> datetime:
    """`dt` in UTC, clamped to what a datetime can hold (0001-01-01 00:00+07:00 has no UTC
    value in Python's range: it becomes the earliest UTC moment)."""
    dt = aware(dt)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        return EARLIEST if dt.year == 1 else LATEST


def safe_add(dt: datetime, delta: timedelta) -> datetime:
    """`dt + delta`, clamped to the first or last representable moment instead of raising."""
    try:
        return dt + delta
    except OverflowError:
        edge = datetime.max if delta > timedelta(0) else datetime.min
        return edge.replace(tzinfo=dt.tzinfo)


def elapsed(since: datetime, until: datetime) -> timedelta:
    """`until - since` for any two stored moments (naive ones taken as UTC); never raises,
    since a difference of two datetimes always fits a timedelta."""
    return aware(until) - aware(since)


def to_vn(dt: datetime) -> datetime | None:
    """`dt` on the +07:00 clock, or None when that clock would leave year 1..9999."""
    try:
        return aware(dt).astimezone(VN_TZ)
    except OverflowError:
        return None


def local(dt: datetime | None) -> str:
    """'2026-11-26 08:00:00+07:00'; a moment with no +07:00 value in range is shown as
    stored, in UTC ('9999-12-31 23:59:59+00:00'), never hidden; None is ''."""
    if dt is None:
        return ""
    shown = to_vn(dt) or as_utc(dt)
    # isoformat, not strftime: strftime writes year 1 as "1" on Linux
    return shown.replace(microsecond=0).isoformat(sep=" ")


def short(dt: datetime | None) -> str:
    """'08:00 26/11/2026' for sentences in Vietnamese; the UTC value when out of range."""
    if dt is None:
        return NONE_SHOWN
    vn = to_vn(dt)
    shown = vn or as_utc(dt)
    text = f"{shown.hour:02d}:{shown.minute:02d} {shown.day:02d}/{shown.month:02d}/{shown.year:04d}"
    return text if vn is not None else f"{text} (UTC)"


def local_date(dt: datetime) -> date | None:
    """The +07:00 calendar day of `dt`; None when it has none in range."""
    vn = to_vn(dt)
    return vn.date() if vn is not None else None


def day_start(d: date) -> datetime:
    """Midnight of a +07:00 calendar day, as an aware datetime."""
    return datetime.combine(d, datetime.min.time(), tzinfo=VN_TZ)


def hours_between(start: datetime, end: datetime) -> float:
    return elapsed(start, end).total_seconds() / 3600


def duration(hours: float | None) -> str:
    """Hours as people read them: '5,0 giờ', '3,2 ngày'; '—' when unknown or not a number."""
    if hours is None or hours != hours or hours in (float("inf"), float("-inf")):
        return NONE_SHOWN
    if abs(hours) >= 48:
        return f"{hours / 24:.1f} ngày".replace(".", ",")
    return f"{hours:.1f} giờ".replace(".", ",")
