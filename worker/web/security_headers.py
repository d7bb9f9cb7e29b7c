"""Security headers on every response of the web process (pages, API, static files, errors)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts and styles come only from /static (no inline code, no inline style attributes),
# so an injected <script> or style cannot run; the pages fetch JSON from their own origin
# and post forms only to it; nobody may frame them (clickjacking on "Gọi bưu tá", "Chạy lại").
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
])
HSTS = "max-age=31536000"  # a year; only sent when the cookie is Secure (served over TLS)


def security_headers(hsts: bool) -> list[tuple[str, str]]:
    headers = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),  # dossier codes and searches stay out of Referer
    ]
    if hsts:
        headers.append(("strict-transport-security", HSTS))
    return headers


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers at `http.response.start` and passes the body
    through untouched, so streamed responses (CSV export) are never buffered.

    A header the endpoint set itself is kept. An exception before the response started gets
    a plain 500 carrying the headers here (Starlette's own error page sits outside every
    user middleware and would go out without them); the exception still propagates, so it
    is logged as before.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = security_headers(hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                await PlainTextResponse("Internal Server Error", 500)(
                    scope, receive, send_with_headers)
            raise
