"""Page guards: login_required (login page, or 403 for the wrong role) and the 403 page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from worker.web.render import render
from worker.web.session import current_user

Handler = Callable[[Request], Awaitable[Response]]

NO_AGENCY_VI = "Tài khoản một cửa chưa được gán đơn vị; liên hệ bộ phận vận hành."
STALE_FORM_VI = ("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ; "
                 "vui lòng tải lại trang và thử lại.")


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
