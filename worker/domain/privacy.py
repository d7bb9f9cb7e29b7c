"""Masking of personal data (names, phones, addresses) before it reaches logs or errors."""

from __future__ import annotations

import re

# A Vietnamese phone as people write it. Unseparated: 0 or (+)84 then 8-11 digits. Separated
# ("0912 345 678", "091.234.5678", "+84 912 345 678", "028 3823 4567"): three groups, and the
# digit after 0/84 must be a mobile or landline digit, so dossier codes ("000.00.17..."),
# dotted dates and amounts ("84.000.000") are left alone.
_PHONE_RE = re.compile(
    r"(?<!\d)(?:\+?84|0)\d{8,11}(?!\d)"
    r"|(?<![\d.\-+])(?:\+?84[ .\-]?|0)(?=[235789])"
    r"\d{2,4}[ .\-]\d{3,4}[ .\-]\d{3,4}(?!\d|[.\-]\d)"
)


def mask_phone(phone: str | None) -> str:
    """'0912345678' -> '09****678' (keeps the first two and last three digits)."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 6:
        return "*" * len(digits)
    return f"{digits[:2]}****{digits[-3:]}"


def mask_name(name: str | None) -> str:
    """'Nguyễn Thị Hồng' -> 'N. T. H***' (initials only)."""
    if not name:
        return ""
    parts = name.split()
    return " ".join(p[0] + "." for p in parts[:-1]) + (" " if len(parts) > 1 else "") + (
        parts[-1][0] + "***"
    )


def mask_address(address: str | None) -> str:
    """Street details are hidden; only the length hint stays."""
    if not address:
        return ""
    return "***"


def scrub(text: str) -> str:
    """Mask any phone number found inside free text (error messages, carrier replies)."""
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)
