"""Who is asking: the session middleware, the current user, and the CSRF token of a page.

The signed cookie holds only a random session id ("sid"), or before login a CSRF token for
the login form; the session itself (user, CSRF token, expiry) is a `web_sessions` row that
SessionUsers looks up on every request. Deleting the row ends the session everywhere.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from worker.domain.enums import Role
from worker.service.access import web_sessions
from worker.web.units import writing


@dataclass(frozen=True)
class CurrentUser:
    username: str
    role: str  # a Role value
    agency_code: str | None
    full_name: str = ""

    @property
    def can_replay(self) -> bool:
        return self.role == Role.OPS


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
                # a write: an expired session is deleted, a live one's last use recorded
                found = await writing(scope["app"].state.runtime, web_sessions.resolve, sid)
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
