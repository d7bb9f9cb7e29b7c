"""The agencies as people see them (`handoff agency list|show`, the ops page "Đơn vị"):
each one's description (never a credential, only whether one is set) with its route's
label and how many hand-offs wait for it.

Read-only; writes are in agency_admin.py. Shared by the CLI and the page so both tell the
same thing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.models import Agency, Handoff, StatusLogEntry
from worker.domain import routes
from worker.domain.statuses import Status
from worker.service.admin.agency_admin import describe
from worker.service.flow.waiting import WAITING


def waiting_counts(session: Session) -> dict[str, int]:
    """Hand-offs waiting for their agency, by agency code: needs_attention whose last
    applied change was "agency unknown" or "agency disabled" (what `take_up_waiting`
    takes up). Codes with no agency row are here too: someone has to add them."""
    held = Handoff.status == Status.NEEDS_ATTENTION.value
    # the last applied change of each held hand-off only (not the whole log)
    last = (select(StatusLogEntry.handoff_id, func.max(StatusLogEntry.id).label("last_id"))
            .join(Handoff, Handoff.id == StatusLogEntry.handoff_id)
            .where(held, StatusLogEntry.applied.is_(True))
            .group_by(StatusLogEntry.handoff_id).subquery())
    rows = session.execute(
        select(Handoff.agency_code, func.count())
        .join(last, last.c.handoff_id == Handoff.id)
        .join(StatusLogEntry, StatusLogEntry.id == last.c.last_id)
        .where(held, StatusLogEntry.reason_code.in_([str(c) for c in WAITING]))
        .group_by(Handoff.agency_code)).all()
    return {str(code): int(n) for code, n in rows}


def _view(row: Agency, waiting: dict[str, int]) -> dict[str, Any]:
    out = describe(row)
    out["route_label"] = routes.label(out["route"])
    out["waiting"] = waiting.get(row.code, 0)
    return out


def listing(session: Session) -> list[dict[str, Any]]:
    """Every agency, by code, described (no credential) with its waiting count."""
    waiting = waiting_counts(session)
    return [_view(r, waiting) for r in session.scalars(select(Agency).order_by(Agency.code))]


def detail(session: Session, code: str) -> dict[str, Any] | None:
    """One agency described, or None when there is no such agency."""
    row = session.get(Agency, code) if code else None
    if row is None:
        return None
    return _view(row, {row.code: waiting_counts(session).get(row.code, 0)})


def waiting_for_missing(session: Session) -> dict[str, int]:
    """Agency codes that hand-offs wait for but that are not in the table (to be added)."""
    known = set(session.scalars(select(Agency.code)))
    return {code: n for code, n in sorted(waiting_counts(session).items()) if code not in known}
