"""The desk page: hand-offs waiting for a courier, call the courier, cancel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.db.models import utcnow
from worker.domain.enums import MAX_DESK_CODES, DeskOutcomeKind, Role
from worker.domain.errors import InvalidInput
from worker.domain.handover import Refusal
from worker.service.flow import desk as service
from worker.service.flow import desk_queue as queue
from worker.service.flow.agency_settings import agency_names
from worker.web import desk_paper as paper
from worker.web.guards import NO_AGENCY_VI, forbidden, login_required
from worker.web.render import render
from worker.web.session import CurrentUser, check_csrf
from worker.web.units import reading


def waited_words(seconds: int) -> str:
    """Seconds as plain Vietnamese: '2 giờ 15 phút', '1 ngày 3 giờ', 'dưới 1 phút'."""
    minutes = max(0, seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} ngày {hours} giờ" if hours else f"{days} ngày"
    if hours:
        return f"{hours} giờ {mins} phút" if mins else f"{hours} giờ"
    return f"{mins} phút" if mins else "dưới 1 phút"


def desk_login(handler: Callable[[Request], Awaitable[Response]]
               ) -> Callable[[Request], Awaitable[Response]]:
    """Desk and ops only; a desk clerk without an agency gets a 403, never every agency."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        user: CurrentUser = request.state.user
        if user.role == Role.DESK and not user.agency_code:
            return forbidden(request, NO_AGENCY_VI)
        return await handler(request)

    return login_required(Role.DESK, Role.OPS)(wrapper)


def _scope(user: CurrentUser, request: Request) -> str | None:
    """The agency the page shows: the clerk's own; ops may pick one with ?agency=."""
    if user.role == Role.DESK:
        return _own_agency(user)
    return request.query_params.get("agency", "").strip() or None


def _own_agency(user: CurrentUser) -> str:
    if not user.agency_code:  # desk_login refuses these; never widen to "all agencies"
        raise RuntimeError("desk user without an agency")
    return user.agency_code


def _agencies(s: Session) -> list[tuple[str, str]]:
    return sorted(agency_names(s, open_only=True).items())


async def context(request: Request, user: CurrentUser) -> dict[str, Any]:
    """What the desk page shows below any result: waiting and ordered hand-offs."""
    rt = request.app.state.runtime
    agency = _scope(user, request)

    def load(s: Session) -> dict[str, Any]:
        now = utcnow()
        waiting = queue.waiting_list(s, agency)
        return {
            "waiting": [(w, waited_words(w.waited_seconds)) for w in waiting.items],
            "waiting_total": waiting.total,
            "ordered": [(o, waited_words(int((now - o.since).total_seconds())))
                        for o in queue.ordered(s, agency)],
            "agencies": _agencies(s) if user.role == Role.OPS else [],
            **paper.lists(s, agency),
        }

    return {"agency": agency or "", **await reading(rt, load)}


@desk_login
async def desk_page(request: Request) -> Response:
    user: CurrentUser = request.state.user
    return render(request, "desk.html", await context(request, user))


@desk_login
async def pending_json(request: Request) -> Response:
    """The waiting list for the page's periodic refresh of waiting times."""
    user: CurrentUser = request.state.user
    rt = request.app.state.runtime
    agency = _scope(user, request)

    def load(s: Session) -> dict[str, Any]:
        waiting = queue.waiting_list(s, agency)
        return {"items": [{"dossierCode": w.dossier_code,
                           "waited": waited_words(w.waited_seconds)}
                          for w in waiting.items],
                "total": waiting.total, "truncated": waiting.truncated}

    return JSONResponse(await reading(rt, load))


def _codes(form: dict[str, list[str]]) -> list[str]:
    codes = [c.strip() for c in form.get("code", []) if c.strip()]
    for text in form.get("codes_text", []):
        codes += [line.strip() for line in text.replace(",", "\n").splitlines()
                  if line.strip()]
    return list(dict.fromkeys(codes))


def _actor_scope(user: CurrentUser) -> str | None:
    # a desk clerk acts only for their agency; ops may act for any
    return _own_agency(user) if user.role == Role.DESK else None


@desk_login
async def pickups(request: Request) -> Response:
    user: CurrentUser = request.state.user
    form = await check_csrf(request)
    codes = _codes(form)
    rt = request.app.state.runtime
    error = ""
    outcomes: list[service.DeskOutcome] = []
    if not codes:
        error = "Chưa chọn hồ sơ nào. Hãy đánh dấu hồ sơ hoặc nhập mã hồ sơ."
    elif len(codes) > MAX_DESK_CODES:
        error = f"Mỗi lần gọi tối đa {MAX_DESK_CODES} hồ sơ; bạn đã chọn {len(codes)}."
    else:
        outcomes = await run_in_threadpool(
            service.request_pickups, rt, codes, actor=user.username,
            agency_code=_actor_scope(user))
    ctx = await context(request, user)
    counts = {k: sum(1 for o in outcomes if o.outcome == k)
              for k in (DeskOutcomeKind.ORDERED, DeskOutcomeKind.ALREADY_ORDERED,
                        DeskOutcomeKind.REFUSED)}
    return render(request, "desk_result.html", {
        **ctx, "title": "Kết quả gọi bưu tá", "action": "pickup", "outcomes": outcomes,
        "counts": counts, "error": error}, status_code=400 if error else 200)


@desk_login
async def cancel(request: Request) -> Response:
    user: CurrentUser = request.state.user
    form = await check_csrf(request)
    code = (form.get("code") or [""])[0].strip()
    rt = request.app.state.runtime
    outcomes: list[service.DeskOutcome] = []
    error = ""
    if not code:
        error = "Thiếu mã hồ sơ cần hủy."
    else:
        outcomes = [await run_in_threadpool(
            service.cancel, rt, code, actor=user.username, agency_code=_actor_scope(user))]
    ctx = await context(request, user)
    return render(request, "desk_result.html", {
        **ctx, "title": "Kết quả hủy", "action": "cancel", "outcomes": outcomes,
        "counts": {}, "error": error},
        status_code=400 if error else 200)


def _paper(handler: Callable[[Request], Awaitable[Response]]
           ) -> Callable[[Request], Awaitable[Response]]:
    """A paper action behind the desk's login; a refusal shown on the page with its lists."""

    @desk_login
    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except InvalidInput as err:
            user: CurrentUser = request.state.user
            words = err.reason  # the clerk's words; the field and code are data
            if err.code == Refusal.MIXED_AGENCIES and user.role == Role.OPS:
                words = paper.AGENCY_VI
            return render(request, "desk_result.html", {
                **await context(request, user), "title": "Không in được", "action": "paper",
                "outcomes": [], "counts": {}, "error": words}, status_code=400)

    return wrapper


routes = [
    Route("/desk", desk_page),
    Route("/desk/pending.json", pending_json),
    Route("/desk/pickups", pickups, methods=["POST"]),
    Route("/desk/cancel", cancel, methods=["POST"]),
    # the desk's paper (worker/web/desk_paper.py), behind the same login
    Route("/desk/handover", _paper(paper.print_record), methods=["POST"]),
    Route("/desk/handover/close", _paper(paper.handed_over), methods=["POST"]),
    Route("/desk/handover/{number}.pdf", _paper(paper.reprint)),
    Route("/desk/slips", _paper(paper.print_slips), methods=["POST"]),
]
