"""VNPost N-GSP simulator: the carrier contract on loopback, with fault injection and admin."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import math
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.carrier import mapping
from simulators.carrier.store import SimConfig, SimStore
from simulators.serve import serve_in_thread as _serve

__all__ = ["SimConfig", "SimStore", "create_app", "run", "running", "serve_in_thread"]

Handler = Callable[[Request], Awaitable[Response]]
_OID_RE = re.compile(r"^[0-9a-fA-F]{24}$")


class _FaultGate:
    """Latency, 429 above a rate, 503 bursts and timeouts, applied before contract routes."""

    def __init__(self, store: SimStore) -> None:
        self.store = store
        self.rng = random.Random(store.config.seed)
        self.window: deque[float] = deque()

    def reset(self) -> None:
        with self.store.lock:
            self.rng = random.Random(self.store.config.seed)
            self.window.clear()

    async def check(self) -> Response | None:
        cfg = self.store.config
        if cfg.latency_ms > 0:
            await asyncio.sleep(cfg.latency_ms / 1000)
        with self.store.lock:
            if cfg.rate_limit_per_s > 0:
                now = time.monotonic()
                while self.window and self.window[0] <= now - 1.0:
                    self.window.popleft()
                if len(self.window) >= cfg.rate_limit_per_s:
                    wait = max(1, math.ceil(self.window[0] + 1.0 - now))
                    self.store.counts["throttled"] += 1
                    return JSONResponse(
                        {"message": "Too Many Requests"}, 429, headers={"Retry-After": str(wait)}
                    )
                self.window.append(now)
            fail = cfg.fail_next > 0 or (cfg.error_rate > 0 and self.rng.random() < cfg.error_rate)
            if fail:
                cfg.fail_next = max(0, cfg.fail_next - 1)
                self.store.counts["errors_injected"] += 1
                return JSONResponse({"message": "Service Unavailable"}, 503)
            timeout = cfg.timeout_rate > 0 and self.rng.random() < cfg.timeout_rate
            if timeout:
                self.store.counts["timeouts_injected"] += 1
        if timeout:
            await asyncio.sleep(cfg.timeout_sleep_s)
            return JSONResponse({"message": "Gateway Timeout"}, 504)
        return None


def create_app(config: SimConfig | None = None) -> Starlette:
    store = SimStore(config or SimConfig())
    gate = _FaultGate(store)

    def contract(handler: Handler, *, auth: bool = True) -> Handler:
        async def wrapped(request: Request) -> Response:
            fault = await gate.check()
            if fault is not None:
                return fault
            if auth:
                header = request.headers.get("authorization", "")
                token = header[7:] if header.lower().startswith("bearer ") else ""
                if not token or not store.token_valid(token):
                    return JSONResponse({"message": "Invalid Credentials"}, 401)
            return await handler(request)

        return wrapped

    async def token(request: Request) -> Response:
        with store.lock:
            store.counts["token_requests"] += 1
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        expected = f"{store.config.customer_key}:{store.config.secret_key}"
        header = request.headers.get("authorization", "")
        try:
            given = base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else ""
        except ValueError:
            given = ""
        if not secrets.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"error": "invalid_client"}, 401)
        value, ttl = store.issue_token()
        return JSONResponse(
            {
                "access_token": value,
                "token_type": "Bearer",
                "expires_in": int(ttl) if ttl == int(ttl) else ttl,
                "scope": "default",
            }
        )

    async def post(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        status, message, created = store.post(body)
        if created and store.config.lose_first_reply:
            return JSONResponse({"message": "Gateway Timeout"}, 504)  # the reply is "lost"
        return JSONResponse({"Status": status, "Message": message})

    async def tracking(request: Request) -> Response:
        last_id = request.query_params.get("lastId", mapping.FIRST_CURSOR)
        try:
            size = int(request.query_params.get("pagesize", "100"))
        except ValueError:
            size = 0
        if not 1 <= size <= mapping.MAX_PAGE_SIZE or not _OID_RE.match(last_id):
            return JSONResponse({"message": "invalid pagesize or lastId"}, 400)
        return JSONResponse(store.tracking(last_id, size))

    async def cancel(request: Request) -> Response:
        code = request.query_params.get("CustomerCode", "")
        number = request.query_params.get("OrderNumber", "")
        if not code or not number:
            return JSONResponse({"Status": 102, "Message": "Thiếu CustomerCode hoặc OrderNumber"})
        status, message = store.cancel(code, number)
        return JSONResponse({"Status": status, "Message": message})

    async def admin_faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(dataclasses.asdict(store.config))
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                return JSONResponse({"error": "expected a JSON object"}, 400)
            result = store.set_faults(changes)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        gate.window.clear()
        return JSONResponse(result)

    async def admin_stats(request: Request) -> Response:
        return JSONResponse(store.stats())

    async def admin_order(request: Request) -> Response:
        view = store.order_view(request.path_params["number"])
        return JSONResponse(view) if view else JSONResponse({"error": "not found"}, 404)

    async def admin_reset(request: Request) -> Response:
        store.reset(restore_config=True)
        gate.reset()
        return JSONResponse({"ok": True})

    async def admin_advance(request: Request) -> Response:
        try:
            seconds = float((await request.json()).get("seconds"))
        except (ValueError, TypeError, AttributeError):
            return JSONResponse({"error": 'expected {"seconds": number}'}, 400)
        return JSONResponse({"sim_time": store.advance(seconds)})

    async def admin_revoke(request: Request) -> Response:
        return JSONResponse({"revoked": store.revoke_tokens()})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route(f"/{mapping.TOKEN_PATH}", contract(token, auth=False), methods=["POST"]),
        Route(f"/{mapping.POST_PATH}", contract(post), methods=["POST"]),
        Route(f"/{mapping.TRACKING_PATH}", contract(tracking), methods=["GET"]),
        Route(f"/{mapping.CANCEL_PATH}", contract(cancel), methods=["GET"]),
        Route("/_admin/faults", admin_faults, methods=["GET", "POST"]),
        Route("/_admin/stats", admin_stats, methods=["GET"]),
        Route("/_admin/orders/{number:path}", admin_order, methods=["GET"]),
        Route("/_admin/reset", admin_reset, methods=["POST"]),
        Route("/_admin/advance", admin_advance, methods=["POST"]),
        Route("/_admin/revoke-tokens", admin_revoke, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.sim = store  # in-process callers may inspect the store directly
    return app


def run(
    host: str = "127.0.0.1",
    port: int = 8701,
    speed: float = 1.0,
    *,
    config: SimConfig | None = None,
    log_level: str = "info",
) -> None:
    """Serve the simulator in the foreground (the `handoff simulate carrier` command)."""
    config = dataclasses.replace(config or SimConfig(), speed=speed)
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, lifespan="off")


def serve_in_thread(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> tuple[str, Callable[[], None]]:
    """Start the simulator on a free loopback port in a daemon thread: (base_url, stop)."""
    return _serve(create_app(config), "carrier-sim", host, port)


@contextlib.contextmanager
def running(config: SimConfig | None = None) -> Iterator[str]:
    """`with running(SimConfig(speed=600)) as base_url: ...`"""
    base_url, stop = serve_in_thread(config)
    try:
        yield base_url
    finally:
        stop()
