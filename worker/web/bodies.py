"""Request bodies read safely: bounded before anything is parsed or verified.

A body is refused by its Content-Length, and again while it streams in, as soon as it
passes the limit, so a 300 MB upload costs at most the limit in memory. JSON is refused
when nested deeper than MAX_JSON_DEPTH (before the parser recurses) or when it holds
NaN/Infinity, which are not JSON.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.domain import json_input
from worker.domain.errors import InvalidInput
from worker.domain.json_input import MAX_JSON_DEPTH

MAX_BODY_BYTES = 1_000_000
__all__ = ["MAX_JSON_DEPTH", "BodyLimit", "BodyRefused", "read_body", "parse_json",
           "read_json_object"]


class BodyRefused(ValueError):
    """The body cannot be taken. `status` is the HTTP answer (413 or 422), `field` and `code`
    are for machines, `reason` is Vietnamese for people."""

    def __init__(self, status: int, code: str, reason: str, field: str = "body") -> None:
        super().__init__(reason)
        self.status, self.code, self.reason, self.field = status, code, reason, field

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "field": self.field, "reason": self.reason}


def _too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, "body_too_large",
                       f"nội dung gửi lên lớn hơn {limit:,} byte".replace(",", "."))


def check_declared_length(headers: Headers, limit: int = MAX_BODY_BYTES) -> None:
    """BodyRefused when Content-Length is repeated, not a number, or over `limit`."""
    declared = headers.getlist("content-length")
    if len(declared) > 1:
        raise BodyRefused(400, "bad_content_length", "khai báo độ dài nội dung bị lặp")
    if declared:
        if not (declared[0].isascii() and declared[0].strip().isdigit()):
            raise BodyRefused(400, "bad_content_length",
                              "độ dài nội dung (Content-Length) không hợp lệ")
        if int(declared[0]) > limit:
            raise _too_large(limit)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, at most `limit` bytes; BodyRefused(413) before reading more."""
    check_declared_length(request.headers, limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of `body`, or BodyRefused(422) saying why it is not acceptable."""
    try:
        return json_input.loads(body, max_depth)
    except InvalidInput as err:
        code = "json_too_deep" if err.code == "json.too_deep" else "invalid_json"
        raise BodyRefused(422, code, err.reason) from None


async def read_json_object(request: Request, *, required: bool = True,
                           limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """A JSON object body (bounded, depth-checked); {} for an empty optional body."""
    body = await read_body(request, limit)
    if not body.strip():
        if required:
            raise BodyRefused(422, "invalid_body", "cần gửi một đối tượng JSON")
        return {}
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BodyRefused(422, "invalid_body", "nội dung gửi lên phải là một đối tượng JSON")
    return data


class BodyLimit:
    """Pure ASGI middleware: no request body over `limit` reaches any route, pages' forms
    included (Starlette's form parser alone would take 1000 fields of 1 MB each).

    A declared Content-Length over the limit is answered 413 before the body is read; a
    streamed body is counted as it arrives and refused the moment it passes the limit.
    Routes that read their body with `read_body` see the same refusal and answer it
    themselves; for any other route the refusal becomes the 413 here.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_declared_length(Headers(scope=scope), self.limit)
        except BodyRefused as err:
            await JSONResponse(err.as_dict(), err.status)(scope, receive, send)
            return
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _too_large(self.limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyRefused as err:
            if started:
                raise
            await JSONResponse(err.as_dict(), err.status)(scope, receive, send)
