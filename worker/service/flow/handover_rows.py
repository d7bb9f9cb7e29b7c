"""What a hand-over record prints, taken when the record is made and stored on it: the
agency as sender and one row per hand-off. A reprint renders this, never the hand-offs and
agency as they are later (an address corrected, an agency renamed): the paper both sides
signed stays the same. The envelope slips use the same sender and ward."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from worker.db.models import Agency, Handoff
from worker.domain.validation import province_name, ward_name

ROW_FIELDS = ("dossier_code", "order_number", "procedure_name", "person", "ward", "cod_amount")


def ward(h: Handoff) -> str:
    """'Phường X, Tỉnh Y' of a hand-off's address, or '' when its codes are unknown."""
    try:
        return f"{ward_name(h.ward_code)}, {province_name(h.province_code)}"
    except (ValueError, KeyError):
        return ""


def sender(session: Session, agency_code: str, fallback: str) -> tuple[str, str, str]:
    """(name, address, telephone) of the agency as sender; the name the one-stop sent when
    the agency is not configured here."""
    a = session.get(Agency, agency_code)
    if a is None:
        return fallback or agency_code, "", ""
    place = ", ".join(p for p in (a.sender_address, ward(Handoff(
        ward_code=a.ward_code, province_code=a.province_code))) if p)
    return a.name, place, a.sender_tel


def printed(session: Session, rows: list[Handoff]) -> dict[str, Any]:
    """The record's printed content (stored on it as JSON)."""
    name, address, _ = sender(session, rows[0].agency_code, rows[0].agency_name)
    return {"agency_name": name, "agency_address": address,
            "rows": [dict(zip(ROW_FIELDS, (h.dossier_code, h.order_number or "",
                                           h.procedure_name, h.citizen_name, ward(h),
                                           h.cod_amount), strict=True)) for h in rows]}
