"""Login, sessions that expire, roles and CSRF tokens for the desk and ops pages."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from worker.service.users import authenticate
from worker.web.render import render

Handler = Callable[[Request], Awaitable[Response]]


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


def login_required(*roles: str) -> Callable[[Handler], Handler]:
    """Pages: no session → login page; wrong role → 403 in plain Vietnamese."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request) -> Response:
            user = current_user(request)
            if user is None:
                return RedirectResponse(f"/login?next={request.url.path}", 303)
            if roles and user.role not in roles:
                return render(request, "error.html", {
                    "message": "Tài khoản của bạn không có quyền thực hiện thao tác này."},
                    status_code=403)
            request.state.user = user
            try:
                return await handler(request)
            except PermissionError:
                return render(request, "error.html", {
                    "message": "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ; "
                               "vui lòng tải lại trang và thử lại."}, status_code=403)

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

    def _auth() -> CurrentUser | None:
        with rt.db.unit_of_work() as s:
            u = authenticate(s, username, password)
            return CurrentUser(u.username, u.role, u.agency_code, u.full_name) if u else None

    user = await run_in_threadpool(_auth)
    if user is None:
        return render(request, "login.html", {
            "next": nxt, "error": "Sai tên đăng nhập hoặc mật khẩu."}, status_code=401)
    request.session.clear()
    request.session["user"] = user.__dict__
    csrf_token(request)
    target = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/"
    return RedirectResponse(target, 303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", 303)


routes = [
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST", "GET"]),
]
