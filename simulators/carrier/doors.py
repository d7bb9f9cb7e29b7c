"""The simulator's two doors onto one store (the contract's route A and route B).

Route A (N-GSP): ``POST /token``, one path per call, ``Authorization: Bearer <token>``,
Status as numbers. Route B (LGSP): ``POST /lgsp/token`` (also ``/token`` when route A is
not served), every call at ``/lgsp?service=<name>`` with an ``access_token`` header, Status
as strings. Both doors share the store, its rules and its faults: an order posted through
one is the same order whichever door asks after it.

Tokens belong to the account (customer key) that logged in; an order or cancel naming
another account's CustomerCode is refused (Status 102), and a tracking page shows the
account's own orders, so a test can tell which credentials each order went with.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as Path

from integrations.carriers.vnpost import wire
from integrations.carriers.vnpost.routes import lgsp_wire
from simulators.carrier.store import SimStore
from worker.domain.enums import Route
from worker.domain.routes import ROUTES

ALL_DOORS = tuple(ROUTES)
# where route B's door is: its RouteSpec says so (settings that point at the simulator)
LGSP_PATH = "/" + ROUTES[Route.LGSP].sim_door["lgsp_base_url"]
LGSP_TOKEN_PATH = "/" + ROUTES[Route.LGSP].sim_door["lgsp_token_url"]
_OID_RE = re.compile(r"^[0-9a-fA-F]{24}$")

Call = Callable[[Request, str, str | None], Awaitable[Response]]  # (request, door, account)


class Gate(Protocol):
    async def check(self) -> Response | None: ...


def bearer(request: Request) -> str:
    """Route A's token: ``Authorization: Bearer <token>``."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def request_token(request: Request) -> str:
    """The token a request carries through either door (for a per-account middleware)."""
    return bearer(request) or request.headers.get(lgsp_wire.TOKEN_HEADER, "").strip()


def _basic(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return "", ""
    try:
        key, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "", ""
    return key, secret


def _reply(door: str, status: int, message: str) -> JSONResponse:
    """Route B's Status is a string ("100"), route A's a number."""
    return JSONResponse({"Status": str(status) if door == Route.LGSP else status,
                         "Message": message})


class Doors:
    """The contract's handlers over one store; `routes()` mounts the chosen doors."""

    def __init__(self, store: SimStore, gate: Gate) -> None:
        self.store = store
        self.gate = gate

    def routes(self, doors: Collection[str] = ALL_DOORS) -> list[Path]:
        """The paths of the chosen doors; a door no route has is refused (ValueError)."""
        unknown = sorted(set(doors) - set(self.doors))
        if unknown:
            raise ValueError(f"no such door: {', '.join(unknown)}; doors: "
                             f"{', '.join(self.doors)}")
        return [p for route, door in self.doors.items() if route in doors
                for p in door(alone=len(set(doors)) == 1)]

    @property
    def doors(self) -> dict[str, Callable[..., list[Path]]]:
        """Route -> the paths of its door (one entry per registered route; a test holds it)."""
        return {Route.NGSP: self._ngsp_paths, Route.LGSP: self._lgsp_paths}

    def _ngsp_paths(self, alone: bool) -> list[Path]:
        return [
            Path(f"/{wire.TOKEN_PATH}", self._token(Route.NGSP), methods=["POST"]),
            Path(f"/{wire.POST_PATH}", self._ngsp(self.post), methods=["POST"]),
            Path(f"/{wire.TRACKING_PATH}", self._ngsp(self.tracking), methods=["GET"]),
            Path(f"/{wire.CANCEL_PATH}", self._ngsp(self.cancel), methods=["GET"]),
        ]

    def _lgsp_paths(self, alone: bool) -> list[Path]:
        paths = [Path(LGSP_TOKEN_PATH, self._token(Route.LGSP), methods=["POST"]),
                 Path(LGSP_PATH, self.lgsp, methods=["GET", "POST"])]
        if alone:  # the LGSP served alone: its token URL is /token too
            paths.append(Path(f"/{wire.TOKEN_PATH}", self._token(Route.LGSP),
                              methods=["POST"]))
        return paths

    # --- doors -----------------------------------------------------------------------------
    def _token(self, door: str) -> Callable[[Request], Awaitable[Response]]:
        async def token(request: Request) -> Response:
            fault = await self.gate.check()
            if fault is not None:
                return fault
            key, secret = _basic(request)
            self.store.count_request(door, token_request=True, customer_key=key or None)
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            if form.get("grant_type") != ["client_credentials"]:
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            if not key or not self.store.login(key, secret):
                return JSONResponse({"error": "invalid_client"}, 401)
            value, ttl = self.store.issue_token(key)
            return JSONResponse({"access_token": value, "token_type": "Bearer",
                                 "expires_in": int(ttl) if ttl == int(ttl) else ttl,
                                 "scope": "default"})

        return token

    def _ngsp(self, call: Call) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            fault = await self.gate.check()
            if fault is not None:
                return fault
            self.store.count_request(Route.NGSP)
            token = bearer(request)
            account = self.store.token_account(token) if token else None
            if account is None:
                return JSONResponse({"message": "Invalid Credentials"}, 401)
            return await call(request, Route.NGSP, account)

        return wrapped

    async def lgsp(self, request: Request) -> Response:
        """The LGSP gateway: routed by ?service=, the token in the access_token header."""
        fault = await self.gate.check()
        if fault is not None:
            return fault
        self.store.count_request(Route.LGSP)
        cfg = self.store.config
        services: dict[str, tuple[str, Call]] = {
            cfg.lgsp_service_post: ("POST", self.post),
            cfg.lgsp_service_tracking: ("GET", self.tracking),
            cfg.lgsp_service_cancel: ("GET", self.cancel),
        }
        found = services.get(request.query_params.get(lgsp_wire.SERVICE_PARAM, ""))
        if found is None:
            return JSONResponse({"message": "Service not found"}, 404)
        if request.method != found[0]:
            return JSONResponse({"message": "Method not allowed"}, 405)
        token = request.headers.get(lgsp_wire.TOKEN_HEADER, "").strip()
        account = self.store.token_account(token) if token else None
        if account is None:
            return JSONResponse({"message": "Invalid Credentials"}, 401)
        return await found[1](request, Route.LGSP, account)

    # --- calls (the same on both doors) ------------------------------------------------------
    async def post(self, request: Request, door: str, account: str | None) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        number = body.get("OrderNumber") if isinstance(body, dict) else None
        cfg = self.store.config
        if isinstance(number, str) and number.rpartition("/")[0] in cfg.hang_dossiers:
            with self.store.lock:  # who holds it: the client's port names its process
                self.store.hung.append({"order": number, "at": time.time(), "client_port":
                                        request.client.port if request.client else 0})
            await asyncio.sleep(cfg.hang_s)
            return JSONResponse({"message": "Service Unavailable"}, 503)
        status, message, created = self.store.post(body, account, door)
        if created and self.store.config.lose_first_reply:
            return JSONResponse({"message": "Gateway Timeout"}, 504)  # the reply is "lost"
        if created and self._hold_reply():
            await asyncio.sleep(self.store.config.timeout_sleep_s)  # the client gave up
            return JSONResponse({"message": "Gateway Timeout"}, 504)
        return _reply(door, status, message)

    def _hold_reply(self) -> bool:
        """True for the next `lose_reply_next` orders created (counted as timeouts)."""
        with self.store.lock:
            cfg = self.store.config
            if cfg.lose_reply_next <= 0:
                return False
            cfg.lose_reply_next -= 1
            self.store.counts["timeouts_injected"] += 1
            return True

    async def tracking(self, request: Request, door: str, account: str | None) -> Response:
        last_id = request.query_params.get("lastId", wire.FIRST_CURSOR)
        try:
            size = int(request.query_params.get("pagesize", "100"))
        except ValueError:
            size = 0
        if not 1 <= size <= wire.MAX_PAGE_SIZE or not _OID_RE.match(last_id):
            return JSONResponse({"message": "invalid pagesize or lastId"}, 400)
        return JSONResponse(self.store.tracking(last_id, size, account))

    async def cancel(self, request: Request, door: str, account: str | None) -> Response:
        code = request.query_params.get("CustomerCode", "")
        number = request.query_params.get("OrderNumber", "")
        if not code or not number:
            return _reply(door, 102, "Thiếu CustomerCode hoặc OrderNumber")
        status, message = self.store.cancel(code, number, account)
        return _reply(door, status, message)
