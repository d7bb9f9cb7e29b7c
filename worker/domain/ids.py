"""Row ids typed by people (URL paths, form values, CLI arguments), read once and safely.

A database id is a positive 64-bit integer: anything else (10^23, -1, 0, "1x", "١٢") names
no row, so it is answered "not found" before it reaches a driver that would overflow on it.
"""

from __future__ import annotations

MAX_ID = 2**63 - 1
_DIGITS = frozenset("0123456789")
_MAX_LEN = len(str(MAX_ID))


def parse_id(raw: object) -> int | None:
    """The id in `raw` (an int or ASCII decimal digits), or None when it cannot name a row."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip().lstrip("0") or "0"
        if len(text) > _MAX_LEN or not _DIGITS.issuperset(text):
            return None
        value = int(text)
    else:
        return None
    return value if 1 <= value <= MAX_ID else None


def parse_page(raw: object, *, last: int | None = None) -> int:
    """A page number from a query string: 1 when missing or nonsense, clamped to 1..last."""
    page = parse_id(raw) or 1
    return page if last is None else min(page, max(1, last))
