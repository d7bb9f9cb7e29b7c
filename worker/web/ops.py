"""Ops pages: overview, lists, timelines, CSV, dead letters and replay."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.db.models import Handoff
from worker.db.readable import read_rows
from worker.domain.enums import SOURCE_VI, Role
from worker.domain.ids import parse_id, parse_page
from worker.service.admin.replay import count_dead, dead_letters, replay
from worker.service.agencies import areas
from worker.service.views import ops_queries as oq
from worker.service.views.reports import timeline
from worker.web.guards import login_required
from worker.web.ops_csv import BUSY_RETRY_SECONDS, BUSY_VI, csv_download, export_slots
from worker.web.render import render, templates
from worker.web.session import check_csrf, current_user
from worker.web.units import reading

DEAD_PAGE = 100
DIRECTIONS = list(oq.DIRECTION_VI.items())


async def _read(request: Request, work: Any, *args: Any) -> Any:
    """Run a read-only function `work(session, *args)` in a read-only unit of work."""
    return await reading(request.app.state.runtime, work, *args)


def _live_html(request: Request, ov: dict[str, Any]) -> str:
    """The part of the overview that refreshes itself (also sent inside overview.json)."""
    return templates.get_template("ops_overview_live.html").render(
        {"ov": ov, "user": current_user(request)})


@login_required(Role.OPS, Role.DESK)
async def overview(request: Request) -> Response:
    ov = await _read(request, oq.overview)
    placeholder = await _read(request, areas.placeholder_notice)  # None once imported
    return render(request, "ops_overview.html", {"ov": ov, "live": _live_html(request, ov),
                                                 "area_notice": placeholder})


@login_required(Role.OPS, Role.DESK)
async def overview_json(request: Request) -> Response:
    ov = await _read(request, oq.overview)
    numbers = {"total": ov["total"], "breaches": ov["breaches_n"],
               "attention": ov["attention_n"], "dead": ov["dead"], "times": ov["times"],
               "per_day": ov["per_day"], "at": ov["at"]}
    return JSONResponse({**numbers, "html": _live_html(request, ov)},
                        headers={"Cache-Control": "no-store"})


def _list_ctx(s: Session, f: oq.Filters, page: int) -> dict[str, Any]:
    return {"result": oq.list_handoffs(s, f, page), "agencies": oq.agencies(s)}


@login_required(Role.OPS, Role.DESK)
async def handoff_list(request: Request) -> Response:
    f = oq.Filters.parse(request.query_params)
    ctx = await _read(request, _list_ctx, f, parse_page(request.query_params.get("page")))
    return render(request, "ops_list.html", {
        **ctx, "f": f, "query": f.query(), "statuses": oq.LABEL_VI.items(),
        "directions": DIRECTIONS})


@login_required(Role.OPS, Role.DESK)
async def handoff_csv(request: Request) -> Response:
    f = oq.Filters.parse(request.query_params)
    user = request.state.user
    # Only ops may take personal data out in clear; anyone else gets the masked file.
    unmasked = user.role == Role.OPS and request.query_params.get("unmasked") == "1"
    slots = export_slots(request.app)
    if not slots.take(user.username):  # one export at a time per person
        busy = render(request, "error.html", {"message": BUSY_VI}, status_code=429)
        busy.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
        return busy
    rt = request.app.state.runtime
    return csv_download(rt, f, unmasked=unmasked, limit=rt.settings.csv_max_rows,
                        done=lambda: slots.give_back(user.username))


@login_required(Role.OPS, Role.DESK)
async def search(request: Request) -> Response:
    q, refused = oq.clean_query(request.query_params.get("q"))
    rows = await _read(request, oq.search, q) if q else []
    return render(request, "ops_search.html", {"q": q, "rows": rows, "refused": refused})


def _timeline_ctx(s: Session, handoff_id: int) -> dict[str, Any] | None:
    found = read_rows(s, select(Handoff).where(Handoff.id == handoff_id), Handoff.id,
                      entities=True)
    if not found:
        return None
    h = found[0]
    tl = timeline(s, h)
    for e in tl["events"]:
        e["source_vi"] = SOURCE_VI.get(e["source"], e["source"])  # reason_vi: event_row
    return {"h": tl, "handoff_id": h.id, "agency_code": h.agency_code,
            "direction_label": oq.DIRECTION_VI.get(h.direction, h.direction),
            "breaches": oq.breaches_of(s, h.id)}


@login_required(Role.OPS, Role.DESK)
async def handoff_timeline(request: Request) -> Response:
    handoff_id = parse_id(request.path_params["id"])  # 10^23, -1, "1x": no such hand-off
    ctx = await _read(request, _timeline_ctx, handoff_id) if handoff_id else None
    if ctx is None:
        return render(request, "error.html", {"message": "Không tìm thấy hồ sơ chuyển phát này."},
                      status_code=404)
    return render(request, "ops_timeline.html", ctx)


def _dead_ctx(s: Session, page: int) -> dict[str, Any]:
    total = count_dead(s)
    pages = max(1, -(-total // DEAD_PAGE))
    page = min(max(1, page), pages)
    return {"letters": dead_letters(s, DEAD_PAGE, (page - 1) * DEAD_PAGE), "total": total,
            "page": page, "pages": pages}


@login_required(Role.OPS, Role.DESK)
async def dead(request: Request) -> Response:
    ctx = await _read(request, _dead_ctx, parse_page(request.query_params.get("page")))
    return render(request, "ops_dead.html", {**ctx, "outcomes": []})


@login_required(Role.OPS)
async def dead_replay(request: Request) -> Response:
    form = await check_csrf(request)
    # As typed: replay() refuses, one by one, any value that names no possible job.
    ids: list[int | str] = [v if isinstance(v, str) else "" for v in form.get("job", [])]
    rt = request.app.state.runtime
    outcomes = await run_in_threadpool(
        lambda: replay(rt, ids, actor=request.state.user.username)) if ids else []
    ctx = await _read(request, _dead_ctx, 1)
    return render(request, "ops_dead.html", {**ctx, "outcomes": outcomes,
                                             "nothing_chosen": not ids})


routes = [
    Route("/ops", overview),
    Route("/ops/overview.json", overview_json),
    Route("/ops/handoffs", handoff_list),
    Route("/ops/handoffs.csv", handoff_csv),
    Route("/ops/handoffs/{id}", handoff_timeline),  # any text: parse_id answers 404
    Route("/ops/search", search),
    Route("/ops/dead", dead),
    Route("/ops/dead/replay", dead_replay, methods=["POST"]),
]
