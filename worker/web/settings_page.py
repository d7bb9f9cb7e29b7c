"""Settings page: each agency's dispatch mode. Ops change it; desk staff read it."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from worker.domain.enums import DISPATCH_MODE_VI, Role
from worker.service.flow.agency_settings import AgencyRow, list_agencies, set_dispatch
from worker.web.guards import login_required
from worker.web.render import render
from worker.web.session import check_csrf
from worker.web.units import reading, writing


async def _rows(request: Request) -> list[AgencyRow]:
    rt = request.app.state.runtime
    return await reading(rt, list_agencies, rt.settings)


def _page(request: Request, rows: list[AgencyRow], *, saved: str = "", error: str = "",
          status_code: int = 200) -> Response:
    saved_row = next((r for r in rows if r.code == saved), None)
    return render(request, "settings.html", {
        "rows": rows, "modes": DISPATCH_MODE_VI, "saved": saved_row, "error": error,
        "can_edit": request.state.user.role == Role.OPS}, status_code=status_code)


@login_required(Role.OPS, Role.DESK)
async def settings_page(request: Request) -> Response:
    rows = await _rows(request)
    return _page(request, rows, saved=request.query_params.get("saved", ""))


@login_required(Role.OPS)
async def save_dispatch(request: Request) -> Response:
    form = await check_csrf(request)
    code = str((form.get("agency_code") or [""])[0]).strip()
    mode = str((form.get("mode") or [""])[0]).strip()
    rt = request.app.state.runtime
    actor = request.state.user.username

    try:
        await writing(rt, set_dispatch, code, mode, actor)
    except ValueError as err:
        return _page(request, await _rows(request), error=str(err), status_code=400)
    return RedirectResponse("/settings?" + urlencode({"saved": code}), 303)


routes = [
    Route("/settings", settings_page),
    Route("/settings/dispatch", save_dispatch, methods=["POST"]),
]
