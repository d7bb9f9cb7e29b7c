"""Login, sessions that expire, roles and CSRF tokens for the desk and ops pages."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from worker.db.models import User
from worker.service.users import authenticate
from worker.web.render import render
from worker.web.throttle import LoginThrottle

Handler = Callable[[Request], Awaitable[Response]]
THROTTLE = LoginThrottle()  # failed logins per username, in this web process

NO_AGENCY_VI = "Tài khoản một cửa chưa được gán đơn vị; liên hệ bộ phận vận hành."


@dataclass(frozen=True)
class CurrentUser:
    username: str
    role: str  # ops, desk
    agency_code: str | None
    full_name: str = ""

    @property
    def can_replay(self) -> bool:
        return self.role == "ops"


def current_user(request: Request) -> CurrentUser | None:
    data = request.session.get("user")
    return CurrentUser(**data) if isinstance(data, dict) else None


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> dict[str, Any]:
    """Read the form and check its CSRF token; returns the form as a dict of lists."""
    form = await request.form()
    sent = form.get("csrf") or request.headers.get("x-csrf-token", "")
    if not sent or not secrets.compare_digest(str(sent), csrf_token(request)):
        raise PermissionError("csrf")
    return {k: form.getlist(k) for k in form}


def _login_redirect(request: Request) -> RedirectResponse:
    """To the login page, coming back to this very page (path and query) afterwards."""
    if request.method != "GET":  # a form sent after expiry: there is no page to return to
        return RedirectResponse("/login", 303)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", 303)


def _fresh_user(request: Request, user: CurrentUser) -> Awaitable[CurrentUser | None]:
    """The session's user as the database has it now; None when gone or deactivated.

    One small query per page: a deactivated account or a changed role or agency takes
    effect at the next request, not when the cookie expires.
    """
    rt = request.app.state.runtime

    def load() -> CurrentUser | None:
        with rt.db.unit_of_work() as s:
            found = s.execute(select(User.role, User.agency_code, User.full_name)
                              .where(User.username == user.username, User.active.is_(True))
                              ).first()
        if found is None:
            return None
        role, agency, name = found
        return CurrentUser(user.username, role, agency, name or "")

    return run_in_threadpool(load)


def forbidden(request: Request, message: str) -> Response:
    return render(request, "error.html", {"message": message}, status_code=403)


def login_required(*roles: str) -> Callable[[Handler], Handler]:
    """Pages: no session (or the account is gone or deactivated) → login page;
    wrong role → 403 in plain Vietnamese. The role comes from the database, not the cookie."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request) -> Response:
            stored = current_user(request)
            user = await _fresh_user(request, stored) if stored is not None else None
            if user is None:
                request.session.clear()
                return _login_redirect(request)
            if user != stored:
                request.session["user"] = user.__dict__  # pages show the current role
            if roles and user.role not in roles:
                return forbidden(request,
                                 "Tài khoản của bạn không có quyền thực hiện thao tác này.")
            request.state.user = user
            try:
                return await handler(request)
            except PermissionError:
                return forbidden(request, "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp "
                                          "lệ; vui lòng tải lại trang và thử lại.")

        return wrapper

    return decorate


async def login_page(request: Request) -> Response:
    nxt = request.query_params.get("next", "/")
    if request.method == "GET":
        return render(request, "login.html", {"next": nxt, "error": ""})
    try:
        form = await check_csrf(request)
    except PermissionError:
        return render(request, "login.html", {"next": nxt, "error": "Vui lòng thử lại."}, 403)
    username = (form.get("username") or [""])[0].strip()
    password = (form.get("password") or [""])[0]
    rt = request.app.state.runtime
    wait = THROTTLE.wait_seconds(username)
    if wait > 0:
        return render(request, "login.html", {
            "next": nxt, "error": f"Đăng nhập sai nhiều lần; vui lòng thử lại sau "
                                  f"{int(wait) + 1} giây."}, status_code=429)

    def _auth() -> CurrentUser | None:
        with rt.db.unit_of_work() as s:
            u = authenticate(s, username, password)
            return CurrentUser(u.username, u.role, u.agency_code, u.full_name) if u else None

    user = await run_in_threadpool(_auth)
    if user is None:
        THROTTLE.failed(username)
        return render(request, "login.html", {
            "next": nxt, "error": "Sai tên đăng nhập hoặc mật khẩu."}, status_code=401)
    if user.role == "desk" and not user.agency_code:
        # a desk clerk sees and acts for one agency only; without one, nothing is safe
        return render(request, "login.html", {"next": nxt, "error": NO_AGENCY_VI},
                      status_code=403)
    THROTTLE.succeeded(username)
    request.session.clear()
    request.session["user"] = user.__dict__
    csrf_token(request)
    # only a path on this site: "//host" and "/\\host" would leave it
    target = nxt if nxt.startswith("/") and not nxt.startswith(("//", "/\\")) else "/"
    return RedirectResponse(target, 303)


async def logout(request: Request) -> Response:
    """POST only, with the page's CSRF token: another site cannot log staff out."""
    if current_user(request) is None:  # already logged out (or the session expired)
        request.session.clear()
        return RedirectResponse("/login", 303)
    try:
        await check_csrf(request)
    except PermissionError:
        return render(request, "error.html", {
            "message": "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ; "
                       "vui lòng tải lại trang và thử lại."}, status_code=403)
    request.session.clear()
    return RedirectResponse("/login", 303)


routes = [
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
