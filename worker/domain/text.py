"""Text and numbers from outside, made safe once: NFC, no NUL, lone surrogates or control
characters, within the column's length; dates and amounts within a sane window.

Every door (one-stop feed and webhook, carrier feed, desk API, pages, CLI) passes outside
values through these functions, so a value that would break a database driver, a page or
a log line is refused here, naming the field, before anything is stored. A refusal is an
InvalidInput whose `reason` is Vietnamese for people and whose `code` is for machines.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

from worker.domain.errors import InvalidInput

# C0 and C1 controls (tab, newline and carriage return are allowed only in multi-line text),
# DEL, and UTF-16 surrogates: a lone surrogate cannot be encoded as UTF-8 at all.
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# Dates from outside must fall in this window: the project did not exist before 2000, and
# nothing is announced more than a year ahead. Outside it the value is a mistake (or an
# attack: year 9999 overflows date arithmetic, year 0001 breaks time zones).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_WINDOW = timedelta(days=366)

# Amounts in VND: the largest fee collected on delivery that makes sense, and what fits a
# 32-bit integer column with room to spare.
MAX_AMOUNT_VND = 1_000_000_000


def clean_text(value: object, field: str, *, max_len: int, required: bool = False,
               multiline: bool = False, what: str = "giá trị") -> str:
    """`value` as safe text (NFC, stripped) or InvalidInput naming `field` and the reason.

    None or blank gives "" unless `required`. Non-strings are refused (never str()-ed).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"thiếu {what}", field=field, code="text.missing")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} phải là chuỗi ký tự", field=field, code="text.type")
    pattern = _CONTROL_MULTI_LINE if multiline else _CONTROL_ONE_LINE
    bad = pattern.search(value)
    if bad is not None:
        char = bad.group(0)
        kind = "ký tự không hợp lệ (mã UTF-16 lẻ)" if "\ud800" <= char <= "\udfff" else (
            "ký tự rỗng (NUL)" if char == "\x00" else "ký tự điều khiển")
        raise InvalidInput(f"{what} chứa {kind} U+{ord(char):04X}", field=field,
                           code="text.forbidden_char")
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > max_len:
        raise InvalidInput(f"dài {len(text)} ký tự, chỉ được tối đa {max_len} ký tự",
                           field=field, code="text.too_long")
    return text


def safe_display(value: object, max_len: int = 200) -> str:
    """Any value as printable one-line text for logs and pages; never raises."""
    try:
        text = value if isinstance(value, str) else repr(value)
        text = _CONTROL_ONE_LINE.sub("\ufffd", text[: max_len * 2])
        return text[:max_len]
    except Exception:  # a hostile __repr__ or anything odd: say what type it was
        return f"<{type(value).__name__}>"


# What must not reach a log line raw: the controls above (CR/LF forge a line, ESC and the
# C1 CSI drive a terminal), the Unicode line and paragraph separators (str.splitlines and
# some viewers break on them) and the bidirectional overrides (they reorder what is shown).
_LOG_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u200e\u200f"
                         r"\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """`text` as one printable line for a log: each character above shown as \\x.. or
    \\u...., everything else (Vietnamese included) unchanged; applying it twice changes
    nothing more."""
    return _LOG_UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def sanitize_text(value: object, max_len: int) -> str:
    """Text we must keep even when odd (a carrier's free text): forbidden characters become
    U+FFFD, NFC, stripped, cut to `max_len`. Non-strings give ""; never raises."""
    if not isinstance(value, str):
        return "" if value is None or isinstance(value, (dict, list)) else safe_display(
            value, max_len)
    text = _CONTROL_ONE_LINE.sub("\ufffd", value[: max_len * 4])
    return unicodedata.normalize("NFC", text).strip()[:max_len]


def check_moment(moment: datetime, field: str, *, now: datetime | None = None) -> datetime:
    """An aware datetime within [2000-01-01, now + 1 year], converted to UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("thời điểm thiếu múi giờ (cần dạng +07:00)", field=field,
                           code="date.naive")
    now = now or datetime.now(UTC)
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or utc < EARLIEST or utc > now + FUTURE_WINDOW:
        raise InvalidInput(
            f"thời điểm {safe_display(moment.isoformat(), 40)} nằm ngoài khoảng cho phép "
            f"(từ {EARLIEST.year} đến không quá một năm sau hôm nay)",
            field=field, code="date.out_of_window")
    return utc


def check_amount(value: object, field: str, *, maximum: int = MAX_AMOUNT_VND) -> int:
    """A whole, non-negative number of VND not above `maximum`; None means 0."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("số tiền phải là số nguyên không âm (đồng)", field=field,
                           code="amount.type")
    if value < 0 or value > maximum:
        raise InvalidInput(f"số tiền phải từ 0 đến {maximum:,} đồng".replace(",", "."),
                           field=field, code="amount.range")
    return value
