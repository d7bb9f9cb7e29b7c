"""Per-account request counting and 429s for the carrier simulator (an ASGI middleware).

The post office counts requests per account; so does this meter, to let tests check that all
workers together never pass an account's quota. Every contract request (token requests
included, through either door) is recorded on arrival under its account: the customer key
of a token request's Basic auth, or the customer key the carried token was issued to ("?"
for a request with no valid token). The meter keeps, per account, the number of requests
and the most that arrived in any sliding one-second window.

It can be told, per account, to answer 429 with Retry-After: for a while (`throttle`), or
above a rate (`limit_per_s`, the per-account twin of the fault gate's `rate_limit_per_s`);
and to play the whole post office down (`outage`): every contract request answered 503 with
Retry-After for a while. Each account's `early` counts the requests that arrived before the
Retry-After this meter last gave that account had passed, leaving out those that arrived
within IN_FLIGHT_S of the refusal (sent by another process before the answer could reach
its client: no client can honour a Retry-After it has not read yet),
and `?times=1` also lists the arrival times of its order posts (`post_times`). The view's
`loop_stalls` counts the simulator's own stalls (STALL_S), which bunch the arrivals it
stamps; `?times=1` lists them too (end, length).
Admin: ``GET /_admin/quota`` (counts and knobs), ``POST /_admin/quota`` with
``{"throttle": {"key-b": {"seconds": 3, "retry_after": 1}}, "limit_per_s": {"key-a": 5},
"outage": {"seconds": 300, "retry_after": 30}}`` (null drops a knob),
``POST /_admin/quota/reset``; ``POST /_admin/reset`` resets it too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from integrations.carriers.vnpost.routes import lgsp_wire
from simulators.carrier.store import SimStore

ADMIN_PATH = "/_admin/quota"
UNKNOWN = "?"  # requests carrying no valid token
WINDOW_S = 1.0
IN_FLIGHT_S = 0.5  # a request arriving this soon after a refusal was sent before it was read
KEEP_TIMES = 10_000  # arrival times kept per account for `?times=1`
# The event loop's stalls: a request that arrives while the loop runs something else is
# stamped when the loop comes back, together with the others that waited, so a stall bunches
# arrivals the senders spread. The meter looks every STALL_TICK_S and records a stall of
# about STALL_S or more (its end, and its length to within a tick), so that a test reading
# "most in one second" can tell the senders' bunching from the simulator's own.
STALL_TICK_S = 0.01
STALL_S = 0.03


@dataclass
class _Account:
    requests: int = 0
    max_per_second: int = 0
    throttled: int = 0  # 429s this meter answered
    unavailable: int = 0  # 503s of an outage
    early: int = 0  # arrived before the Retry-After last given had passed
    not_before: float = 0.0  # monotonic: when the last Retry-After given runs out
    told_at: float = float("-inf")  # monotonic: when the last Retry-After was given
    window: deque[float] = field(default_factory=deque)  # arrivals of the last second
    times: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP_TIMES))
    posts: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP_TIMES))


@dataclass
class _Throttle:
    until: float  # monotonic
    retry_after: float


class QuotaMeter:
    """The middleware: `app.add_middleware(QuotaMeter, store=store)` in create_app."""

    def __init__(self, app: ASGIApp, store: SimStore,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.store = store
        self.clock = clock
        self.lock = threading.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.started = self.clock()
            self.accounts: dict[str, _Account] = {}
            self.throttles: dict[str, _Throttle] = {}
            self.limits: dict[str, float] = {}
            self.outage: _Throttle | None = None
            self.stalls: deque[tuple[float, float]] = deque(maxlen=KEEP_TIMES)

    async def _watch_loop(self) -> None:
        while True:
            began = time.monotonic()
            await asyncio.sleep(STALL_TICK_S)
            late = time.monotonic() - began - STALL_TICK_S
            if late >= STALL_S:
                with self.lock:
                    self.stalls.append((self.clock() - self.started, late))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        if self._watcher is None or self._watcher.done() or self._watcher.get_loop() is not loop:
            self._watcher = loop.create_task(self._watch_loop())
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(ADMIN_PATH):
            response = await self._admin(Request(scope, receive))
            await response(scope, receive, send)
            return
        if path.startswith("/_admin") or path == "/healthz" or scope["type"] != "http":
            if path == "/_admin/reset" and scope.get("method") == "POST":
                self.reset()
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refused = self.arrive(self.account_of(request), post=request.method == "POST"
                              and not request.headers.get("authorization", "").startswith(
                                  "Basic "))
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def account_of(self, request: Request) -> str:
        """The customer key a request is sent for (headers only: the body is left unread)."""
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return UNKNOWN
            return decoded.partition(":")[0] or UNKNOWN
        token = (header[7:].strip() if header.lower().startswith("bearer ")
                 else request.headers.get(lgsp_wire.TOKEN_HEADER, "").strip())
        return (self.store.token_account(token) if token else None) or UNKNOWN

    def arrive(self, account: str, post: bool = False) -> Response | None:
        """Record one request (`post`: an order post); a 503 during an outage, a 429 if the
        account is held or above its rate."""
        now = self.clock()
        with self.lock:
            acc = self.accounts.setdefault(account, _Account())
            acc.requests += 1
            acc.early += int(acc.told_at + IN_FLIGHT_S <= now < acc.not_before)
            acc.times.append(now - self.started)
            if post:
                acc.posts.append(now - self.started)
            while acc.window and acc.window[0] <= now - WINDOW_S:
                acc.window.popleft()
            acc.window.append(now)
            acc.max_per_second = max(acc.max_per_second, len(acc.window))
            if self.outage is not None and now < self.outage.until:
                acc.unavailable += 1
                return self._refuse(acc, now, self.outage.retry_after, 503,
                                    "Service Unavailable")
            wait = self._refusal(account, acc, now)
            if wait is None:
                return None
            acc.throttled += 1
            return self._refuse(acc, now, wait, 429, "Too Many Requests")

    @staticmethod
    def _refuse(acc: _Account, now: float, wait: float, status: int, message: str
                ) -> Response:
        """The refusal, noting when the Retry-After it carries runs out (lock held)."""
        seconds = max(1, math.ceil(wait))
        acc.not_before = max(acc.not_before, now + seconds)
        acc.told_at = now
        return JSONResponse({"message": message}, status,
                            headers={"Retry-After": str(seconds)})

    def _refusal(self, account: str, acc: _Account, now: float) -> float | None:
        """Seconds to tell the client to wait, or None to let the request in."""
        held = self.throttles.get(account)
        if held is not None and now < held.until:
            return held.retry_after
        limit = self.limits.get(account)
        if limit is not None and len(acc.window) > limit:
            return acc.window[0] + WINDOW_S - now
        return None

    def view(self, times: bool = False) -> dict[str, Any]:
        now = self.clock()
        with self.lock:
            return {
                "accounts": {
                    k: {"requests": a.requests, "max_per_second": a.max_per_second,
                        "throttled": a.throttled, "unavailable": a.unavailable,
                        "early": a.early,
                        **({"times": [round(t, 6) for t in a.times],
                            "post_times": [round(t, 6) for t in a.posts]} if times else {})}
                    for k, a in sorted(self.accounts.items())},
                "throttle": {k: {"seconds_left": round(t.until - now, 3),
                                 "retry_after": t.retry_after}
                             for k, t in self.throttles.items() if t.until > now},
                "limit_per_s": dict(self.limits),
                "started": self.started,  # the clock's reading the times count from
                "loop_stalls": {"count": len(self.stalls),
                                "longest_s": round(max((d for _, d in self.stalls),
                                                       default=0.0), 3),
                                **({"at": [[round(t, 3), round(d, 3)] for t, d in self.stalls]}
                                   if times else {})},
                "outage": ({"seconds_left": round(self.outage.until - now, 3),
                            "retry_after": self.outage.retry_after}
                           if self.outage is not None and self.outage.until > now else None),
            }

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply the admin body; a bad one raises ValueError and changes nothing."""
        unknown = set(changes) - {"throttle", "limit_per_s", "outage"}
        if unknown:
            raise ValueError(f"unknown quota knob(s): {sorted(unknown)}")
        throttles: dict[str, _Throttle | None] = {}
        for key, spec in _object(changes.get("throttle", {})).items():
            if spec is None:
                throttles[key] = None
                continue
            spec = _object(spec)
            seconds, retry = _number(spec.get("seconds")), _number(spec.get("retry_after", 1))
            throttles[key] = _Throttle(self.clock() + seconds, retry)
        limits = {k: None if v is None else _number(v)
                  for k, v in _object(changes.get("limit_per_s", {})).items()}
        outage: _Throttle | None = None
        if changes.get("outage") is not None:
            spec = _object(changes["outage"])
            outage = _Throttle(self.clock() + _number(spec.get("seconds")),
                               _number(spec.get("retry_after", 1)))
        with self.lock:
            if "outage" in changes:
                self.outage = outage
            for key, throttle in throttles.items():
                if throttle is None:
                    self.throttles.pop(key, None)
                else:
                    self.throttles[key] = throttle
            for key, limit in limits.items():
                if limit is None:
                    self.limits.pop(key, None)
                else:
                    self.limits[key] = limit

    async def _admin(self, request: Request) -> Response:
        if request.url.path == ADMIN_PATH + "/reset" and request.method == "POST":
            self.reset()
            return JSONResponse({"ok": True})
        if request.url.path != ADMIN_PATH:
            return JSONResponse({"error": "not found"}, 404)
        if request.method == "GET":
            return JSONResponse(self.view(request.query_params.get("times") == "1"))
        if request.method != "POST":
            return JSONResponse({"error": "method not allowed"}, 405)
        try:
            self.configure(_object(json.loads(await request.body())))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.view())


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"expected a number >= 0, got {value!r}")
    return float(value)
