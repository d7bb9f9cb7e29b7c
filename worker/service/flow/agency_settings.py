"""The agencies' dispatch mode as the settings page shows and changes it (the agencies
table holds it; `handoff agency update --dispatch` changes the same column).

Changing the mode only affects hand-offs that arrive afterwards: switching from "desk" to
"auto" does not post the hand-offs already waiting (staff call the courier for them from
the desk page).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.models import Agency, Handoff, utcnow
from worker.domain.enums import DISPATCH_MODE_VI, DispatchMode
from worker.domain.errors import InvalidInput
from worker.domain.moments import local
from worker.domain.statuses import FINAL
from worker.domain.text import clean_text
from worker.service import agencies
from worker.service.flow.desk_queue import waiting_by_agency
from worker.settings import Settings

SOURCE_UNDECLARED = "chưa khai báo đơn vị: hồ sơ của đơn vị này đang chờ"
CODE_MAX = 40


@dataclass(frozen=True)
class AgencyRow:
    """One agency as the settings page shows it."""

    code: str
    name: str
    mode: str  # the effective dispatch mode (a DispatchMode value)
    source: str  # where the mode comes from, in Vietnamese
    waiting: int  # hand-offs waiting at the desk for this agency

    @property
    def mode_label(self) -> str:
        return DISPATCH_MODE_VI.get(self.mode, self.mode)


def dispatch_mode(session: Session, settings: Settings, agency_code: str) -> str:
    """The agency's dispatch mode (an agency not in the table never dispatches by itself)."""
    found = agencies.row(session, agency_code)
    return found.dispatch if found is not None else DispatchMode.DESK


def set_dispatch(session: Session, agency_code: str, mode: str, actor: str) -> Agency:
    """Store the agency's dispatch mode (it applies to hand-offs that arrive from now on)."""
    try:  # NUL, lone surrogates and controls never reach the database or the page
        code = clean_text(agency_code, "agency_code", max_len=CODE_MAX, required=True,
                          what="mã đơn vị")
    except InvalidInput as err:
        raise ValueError({"text.missing": "Chưa chọn đơn vị.",
                          "text.too_long": f"Mã đơn vị dài quá {CODE_MAX} ký tự."}.get(
            err.code or "", f"Mã đơn vị không hợp lệ: {err.reason}.")) from None
    if mode not in DISPATCH_MODE_VI:
        raise ValueError("Cách gọi bưu tá không hợp lệ; chỉ chọn “Tự động” hoặc “Tại bàn một cửa”.")
    row = session.get(Agency, code)
    if row is None:
        raise ValueError(f"Đơn vị {code} chưa được khai báo; hãy thêm đơn vị ở trang Đơn vị "
                         "(hoặc `handoff agency add`) trước.")
    row.dispatch, row.updated_by, row.updated_at = mode, (actor or "")[:80], utcnow()
    session.flush()
    return row


def agency_names(session: Session, *, open_only: bool = False) -> dict[str, str]:
    """Every agency code the hand-offs name (of unfinished hand-offs only, if asked), each
    with its name (the greatest stored, "" if none), in code order. The one query behind
    every agency list: the settings page, the ops filter box, the desk's agency picker."""
    q = select(Handoff.agency_code, func.max(Handoff.agency_name)).where(
        Handoff.agency_code != "")
    if open_only:
        q = q.where(Handoff.status.not_in([st.value for st in FINAL]))
    rows = session.execute(q.group_by(Handoff.agency_code).order_by(Handoff.agency_code))
    return {code: name or "" for code, name in rows}


def list_agencies(session: Session, settings: Settings) -> list[AgencyRow]:
    """Every agency in the table, and every agency code hand-offs name that is not (their
    hand-offs wait), with the mode and who last changed it; sorted by code."""
    rows = {r.code: r for r in session.scalars(select(Agency))}
    names = agency_names(session)
    waiting = waiting_by_agency(session)
    out = []
    for code in sorted(set(rows) | set(names)):
        row = rows.get(code)
        if row is None:
            out.append(AgencyRow(code, names.get(code, ""), "", SOURCE_UNDECLARED,
                                 waiting.get(code, 0)))
            continue
        source = f"đổi bởi {row.updated_by or '?'} lúc {local(row.updated_at)[:16]}"
        if not row.enabled:
            source = "đơn vị đang tạm ngừng; " + source
        out.append(AgencyRow(code, row.name, row.dispatch, source, waiting.get(code, 0)))
    return out
