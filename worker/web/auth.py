"""Login and logout pages: the throttled password check that starts a server-side session.

Who is asking (the session middleware, current user, CSRF) is worker/web/session.py; page
guards are worker/web/guards.py.
"""

from __future__ import annotations

import logging
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from worker.domain.enums import Role
from worker.domain.text import safe_display
from worker.service.access import login_throttle, web_sessions
from worker.service.access.users import authenticate
from worker.service.ledger import uow
from worker.web.guards import NO_AGENCY_VI, STALE_FORM_VI
from worker.web.render import render
from worker.web.session import check_csrf, current_user
from worker.web.units import writing

log = logging.getLogger(__name__)


def _wait_vi(seconds: float) -> str:
    whole = max(math.ceil(seconds), 1)
    return f"{whole} giây" if whole < 120 else f"{math.ceil(whole / 60)} phút"


def _counted_address(request: Request) -> str:
    """The client address the throttle counts. Once per process, says so in the log when a
    proxy that uvicorn does not trust forwarded the request: then every client would count
    as that proxy, and a few wrong passwords would lock everyone out."""
    host = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    state = request.app.state
    if (forwarded and host and not getattr(state, "untrusted_proxy_told", False)
            and host not in {part.strip() for part in forwarded.split(",")}):
        state.untrusted_proxy_told = True
        log.warning("login throttle: %s forwarded a request (X-Forwarded-For) but is not "
                    "trusted, so it is counted as the client; if it is your proxy, set "
                    "FORWARDED_ALLOW_IPS to its address", safe_display(host, 64))
    return login_throttle.client_key(host)


def _try_login(request: Request, username: str, password: str) -> tuple[str, object]:
    """("wait", seconds) | ("wrong", None) | ("no_agency", None) | ("ok", session id).

    The try is recorded and counted before the password is checked (login_throttle).
    """
    rt = request.app.state.runtime
    client = _counted_address(request)
    admission = login_throttle.admit(rt.db, username, client)
    if not admission.allowed:
        return "wait", admission.wait_seconds
    with uow.read(rt) as s:
        user = authenticate(s, username, password)
        if user is None:
            return "wrong", None
        user_id, role, agency = user.id, user.role, user.agency_code
    login_throttle.succeeded(rt.db, admission, username, client)
    if role == Role.DESK and not agency:
        # a desk clerk sees and acts for one agency only; without one, nothing is safe
        return "no_agency", None
    with uow.begin(rt) as s:
        old = request.session.get("sid")
        if isinstance(old, str):  # another login in this browser: the old session ends
            web_sessions.end(s, old)
        return "ok", web_sessions.start(s, user_id, rt.settings.session_max_age_seconds)


async def login_page(request: Request) -> Response:
    nxt = request.query_params.get("next", "/")
    if request.method == "GET":
        return render(request, "login.html", {"next": nxt, "error": ""})
    try:
        form = await check_csrf(request)
    except PermissionError:
        return render(request, "login.html", {"next": nxt, "error": "Vui lòng thử lại."}, 403)
    username = str((form.get("username") or [""])[0]).strip()
    password = str((form.get("password") or [""])[0])
    outcome, value = await run_in_threadpool(_try_login, request, username, password)
    if outcome == "wait":
        return render(request, "login.html", {
            "next": nxt, "error": "Đăng nhập sai nhiều lần; vui lòng thử lại sau "
                                  f"{_wait_vi(float(value))}."},  # type: ignore[arg-type]
                      status_code=429)
    if outcome == "wrong":
        return render(request, "login.html", {
            "next": nxt, "error": "Sai tên đăng nhập hoặc mật khẩu."}, status_code=401)
    if outcome == "no_agency":
        return render(request, "login.html", {"next": nxt, "error": NO_AGENCY_VI},
                      status_code=403)
    request.session.clear()
    request.session["sid"] = value  # the only thing the cookie holds about this login
    # only a path on this site: "//host" and "/\\host" would leave it
    target = nxt if nxt.startswith("/") and not nxt.startswith(("//", "/\\")) else "/"
    return RedirectResponse(target, 303)


async def logout(request: Request) -> Response:
    """POST only, with the page's CSRF token: another site cannot log staff out. The
    session row is deleted, so a copy of the cookie opens nothing afterwards."""
    if current_user(request) is None:  # already logged out (or the session expired)
        request.session.clear()
        return RedirectResponse("/login", 303)
    try:
        await check_csrf(request)
    except PermissionError:
        return render(request, "error.html", {"message": STALE_FORM_VI}, status_code=403)
    sid = request.session.get("sid")
    await writing(request.app.state.runtime, web_sessions.end, str(sid))
    request.session.clear()
    return RedirectResponse("/login", 303)


routes = [
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
