"""Login, server-side sessions, roles and CSRF tokens for the desk and ops pages.

The signed cookie holds only a random session id ("sid"), or before login a CSRF token for
the login form; the session itself (user, CSRF token, expiry) is a `web_sessions` row that
SessionUsers looks up on every request. Deleting the row ends the session everywhere.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from worker.domain.text import safe_display
from worker.service import login_throttle, web_sessions
from worker.service.users import authenticate
from worker.web.render import render

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

NO_AGENCY_VI = "Tài khoản một cửa chưa được gán đơn vị; liên hệ bộ phận vận hành."
STALE_FORM_VI = ("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ; "
                 "vui lòng tải lại trang và thử lại.")


@dataclass(frozen=True)
class CurrentUser:
    username: str
    role: str  # ops, desk
    agency_code: str | None
    full_name: str = ""

    @property
    def can_replay(self) -> bool:
        return self.role == "ops"


class SessionUsers:
    """ASGI middleware (inside SessionMiddleware): the cookie's session id → its user.

    One query per request that carries a session id; static files are skipped. An unknown,
    expired or ended session clears the cookie, so the browser stops sending it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            state = scope.setdefault("state", {})
            state["user"], state["session_csrf"] = None, None
            cookie = scope.get("session")
            sid = cookie.get("sid") if cookie is not None else None
            if isinstance(sid, str) and cookie is not None:
                db = scope["app"].state.runtime.db

                def load() -> web_sessions.SessionUser | None:
                    with db.unit_of_work() as s:
                        return web_sessions.resolve(s, sid)

                found = await run_in_threadpool(load)
                if found is None:
                    cookie.clear()
                else:
                    state["user"] = CurrentUser(found.username, found.role, found.agency_code,
                                                found.full_name)
                    state["session_csrf"] = found.csrf
        await self.app(scope, receive, send)


def current_user(request: Request) -> CurrentUser | None:
    user = getattr(request.state, "user", None)
    return user if isinstance(user, CurrentUser) else None


def csrf_token(request: Request) -> str:
    """The session's token; before login, one kept in the signed cookie for the login form."""
    token = getattr(request.state, "session_csrf", None)
    if token:
        return str(token)
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> dict[str, Any]:
    """Read the form and check its CSRF token; returns the form's text fields as a dict of
    lists. A file sent in place of a field (multipart) is dropped: no page takes files."""
    form = await request.form()
    sent = form.get("csrf") or request.headers.get("x-csrf-token", "")
    if not isinstance(sent, str) or not sent or not secrets.compare_digest(
            sent.encode(errors="replace"), csrf_token(request).encode()):
        raise PermissionError("csrf")
    return {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}


def _login_redirect(request: Request) -> RedirectResponse:
    """To the login page, coming back to this very page (path and query) afterwards."""
    if request.method != "GET":  # a form sent after expiry: there is no page to return to
        return RedirectResponse("/login", 303)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", 303)


def forbidden(request: Request, message: str) -> Response:
    return render(request, "error.html", {"message": message}, status_code=403)


def login_required(*roles: str) -> Callable[[Handler], Handler]:
    """Pages: no valid session (logged out, expired, ended, account deactivated) → login
    page; wrong role → 403 in plain Vietnamese. The role comes from the database."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request) -> Response:
            user = current_user(request)
            if user is None:
                return _login_redirect(request)
            if roles and user.role not in roles:
                return forbidden(request,
                                 "Tài khoản của bạn không có quyền thực hiện thao tác này.")
            try:
                return await handler(request)
            except PermissionError:
                return forbidden(request, STALE_FORM_VI)

        return wrapper

    return decorate


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
    with rt.db.unit_of_work() as s:
        user = authenticate(s, username, password)
        if user is None:
            return "wrong", None
        user_id, role, agency = user.id, user.role, user.agency_code
    login_throttle.succeeded(rt.db, admission, username, client)
    if role == "desk" and not agency:
        # a desk clerk sees and acts for one agency only; without one, nothing is safe
        return "no_agency", None
    with rt.db.unit_of_work() as s:
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
    db = request.app.state.runtime.db

    def end() -> None:
        with db.unit_of_work() as s:
            web_sessions.end(s, str(sid))

    await run_in_threadpool(end)
    request.session.clear()
    return RedirectResponse("/login", 303)


routes = [
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
