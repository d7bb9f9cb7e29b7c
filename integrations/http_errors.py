"""HTTP reply helpers shared by the carrier and one-stop mappings (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def header(headers: Mapping | None, name: str) -> str | None:
    """A header's value by case-insensitive name, None when absent."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def retry_after(headers: Mapping | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds, from delta-seconds or an HTTP-date (RFC 9110 section 10.2.3).

    None when the header is absent or unreadable; a date in the past gives 0.
    """
    value = header(headers, "retry-after")
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
