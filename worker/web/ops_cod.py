"""/ops/cod: the fee reconciliation (COD) of a month, per agency, the hand-offs that differ
first, with CSV and XLSX downloads. Ops only: it is the province's money."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from worker.domain.enums import VN_TZ, Role
from worker.domain.errors import InvalidInput
from worker.domain.text import clean_text
from worker.service.views import ops_queries as oq
from worker.service.views.cod_report import CodReport, report, table, totals_table
from worker.settings import Settings
from worker.web.guards import login_required
from worker.web.ops_csv import csv_bytes
from worker.web.render import render
from worker.web.units import reading

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIELD_VI = {"month": "Tháng", "agency": "Cơ quan"}


def _asked(request: Request) -> tuple[str, str | None]:
    """(month, agency) from the query; this month (Vietnam time) when none is given.
    InvalidInput naming the field when either is not usable."""
    q = request.query_params
    month = clean_text(q.get("month"), "month", max_len=20) or datetime.now(VN_TZ).strftime(
        "%Y-%m")
    return month, clean_text(q.get("agency"), "agency", max_len=40) or None


def _report(s: Session, month: str, agency: str | None, settings: Settings) -> CodReport:
    return report(s, month, now=datetime.now(UTC), agency=agency,
                  remit_days=settings.cod_remit_days,
                  grace_days=settings.cod_collect_grace_days)


def _page_ctx(s: Session, month: str, agency: str | None, settings: Settings
              ) -> dict[str, Any]:
    rep = _report(s, month, agency, settings)
    return {"rep": rep, "totals": totals_table(rep)[1:], "agencies": oq.agencies(s)}


def _refused(request: Request, err: InvalidInput) -> Response:
    field = FIELD_VI.get(err.field or "", err.field or "")
    return render(request, "error.html", {"message": f"{field}: {err.reason}"},
                  status_code=400)


@login_required(Role.OPS)
async def cod_page(request: Request) -> Response:
    rt = request.app.state.runtime
    try:
        month, agency = _asked(request)
        ctx = await reading(rt, _page_ctx, month, agency, rt.settings)
    except InvalidInput as err:
        return _refused(request, err)
    query = {"month": month, **({"agency": agency} if agency else {})}
    return render(request, "ops_cod.html", {**ctx, "month": month, "agency": agency,
                                            "query": query})


def _file(s: Session, month: str, agency: str | None, settings: Settings, fmt: str) -> bytes:
    rep = _report(s, month, agency, settings)
    if fmt == "xlsx":
        from worker.paper.cod_xlsx import render as render_xlsx  # openpyxl on first use

        return render_xlsx(rep)
    return csv_bytes(table(rep))


async def _download(request: Request, fmt: str, media_type: str) -> Response:
    rt = request.app.state.runtime
    try:
        month, agency = _asked(request)
        data = await reading(rt, _file, month, agency, rt.settings, fmt)
    except InvalidInput as err:
        return _refused(request, err)
    name = f"doi-soat-cod-{month}.{fmt}"  # the month is YYYY-MM once the report read it
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@login_required(Role.OPS)
async def cod_csv(request: Request) -> Response:
    return await _download(request, "csv", "text/csv; charset=utf-8")


@login_required(Role.OPS)
async def cod_xlsx(request: Request) -> Response:
    return await _download(request, "xlsx", XLSX)


routes = [
    Route("/ops/cod", cod_page),
    Route("/ops/cod.csv", cod_csv),
    Route("/ops/cod.xlsx", cod_xlsx),
]
