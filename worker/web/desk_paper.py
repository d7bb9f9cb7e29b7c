"""The desk's paper: print the hand-over record (biên bản bàn giao) and the envelope slips
as PDF downloads, print a record again, mark one handed over ("Đã bàn giao")."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from worker.domain.enums import MAX_DESK_CODES, Role
from worker.domain.errors import InvalidInput
from worker.domain.handover import Refusal
from worker.domain.statuses import Direction
from worker.service.flow import handover, handover_desk
from worker.service.views import handover_views
from worker.web.session import CurrentUser, check_csrf
from worker.web.units import reading

AGENCY_VI = "Hãy chọn một đơn vị (ô Đơn vị ở trên) rồi in biên bản cho đơn vị đó."
# Each handler raises InvalidInput for the page (worker/web/desk.py) to show as a refusal.


def pdf_response(data: bytes, filename: str) -> Response:
    """A PDF download; the name in ASCII, and in UTF-8 for browsers that read filename*."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "-._") else "_"
                         for c in filename)
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})


def _scope(request: Request) -> str | None:
    user: CurrentUser = request.state.user
    if user.role == Role.DESK:
        if not user.agency_code:  # desk_login refuses these; never widen to every agency
            raise RuntimeError("desk user without an agency")
        return user.agency_code
    return request.query_params.get("agency", "").strip() or None


def _form_codes(form: dict[str, list[str]]) -> list[str] | None:
    codes = list(dict.fromkeys(c.strip() for c in form.get("code", []) if c.strip()))
    if len(codes) > MAX_DESK_CODES:
        raise InvalidInput(f"mỗi biên bản tối đa {MAX_DESK_CODES} hồ sơ", field="codes",
                           code=Refusal.TOO_MANY)
    return codes or None


def _direction(form: dict[str, list[str]]) -> str:
    value = (form.get("direction") or [Direction.RESULT_DELIVERY.value])[0]
    if value not in {d.value for d in Direction}:
        raise InvalidInput("không rõ chiều bàn giao", field="direction",
                           code=Refusal.DIRECTION)
    return value


async def print_record(request: Request) -> Response:
    user: CurrentUser = request.state.user
    form = await check_csrf(request)
    rt = request.app.state.runtime
    made = await run_in_threadpool(
        handover_desk.print_record, rt, agency_code=_scope(request), direction=_direction(form),
        codes=_form_codes(form), actor=user.username)
    return await _record_pdf(request, made.number)


async def reprint(request: Request) -> Response:
    return await _record_pdf(request, request.path_params["number"])


async def _record_pdf(request: Request, number: str) -> Response:
    agency = _scope(request)

    def load(s: Session) -> bytes:
        from worker.paper import handover_pdf  # fpdf loads on the first print (0.3 s of CPU)

        return handover_pdf.render(handover_views.record(s, number, agency))

    return pdf_response(await reading(request.app.state.runtime, load), f"{number}.pdf")


async def print_slips(request: Request) -> Response:
    form = await check_csrf(request)
    agency = _scope(request)
    codes = _form_codes(form)

    def load(s: Session) -> bytes:
        from worker.paper import slips_pdf  # (as above)

        return slips_pdf.render(handover_views.slips(s, agency, codes))

    return pdf_response(await reading(request.app.state.runtime, load), "phiếu-gửi.pdf")


async def handed_over(request: Request) -> Response:
    user: CurrentUser = request.state.user
    form = await check_csrf(request)
    number = (form.get("number") or [""])[0].strip()
    agency = _scope(request)

    await run_in_threadpool(handover_desk.close_record, request.app.state.runtime, number,
                            user.username, agency)
    query = f"?agency={quote(agency)}" if agency and user.role == Role.OPS else ""
    return RedirectResponse(f"/desk{query}#handover", status_code=303)


def lists(s: Session, agency: str | None) -> dict[str, Any]:
    """What the page's hand-over section shows."""
    return {"to_hand": handover.candidates(s, agency, Direction.RESULT_DELIVERY),
            "to_receive": handover.candidates(s, agency, Direction.PICKUP),
            "open_records": handover_views.open_records(s, agency)}
