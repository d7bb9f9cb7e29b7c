"""VNPost simulator: the carrier contract on loopback (route A N-GSP and route B LGSP
doors onto one store, simulators/carrier/doors.py), with fault injection and admin."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import random
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.carrier.doors import ALL_DOORS, Doors
from simulators.carrier.pusher import Pusher
from simulators.carrier.quota import QuotaMeter
from simulators.carrier.store import SimConfig, SimStore
from simulators.serve import serve_in_thread as _serve

__all__ = ["ALL_DOORS", "SimConfig", "SimStore", "create_app", "run", "running",
           "serve_in_thread"]


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


def create_app(config: SimConfig | None = None, doors: Collection[str] = ALL_DOORS
               ) -> Starlette:
    """The simulator: the chosen doors (route A, route B, or both onto one store), admin."""
    store = SimStore(config or SimConfig())
    gate = _FaultGate(store)
    pusher = Pusher(store)
    pusher.ensure_running()

    async def admin_faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(store.config.public())
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                return JSONResponse({"error": "expected a JSON object"}, 400)
            result = store.set_faults(changes)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        gate.window.clear()
        pusher.ensure_running()
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
        *Doors(store, gate).routes(doors),
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
    app.add_middleware(QuotaMeter, store=store)  # per-account counts, 429s
    return app


def parse_account(text: str) -> tuple[str, list[str]]:
    """``KEY:SECRET:CODE`` (the secret may hold colons) -> (key, [secret, code])."""
    key, _, rest = text.partition(":")
    secret, _, code = rest.rpartition(":")
    if not key or not secret or not code:
        raise ValueError("an account is KEY:SECRET:CUSTOMER_CODE")
    return key, [secret, code]


def run(
    host: str = "127.0.0.1",
    port: int = 8701,
    speed: float = 1.0,
    *,
    config: SimConfig | None = None,
    doors: Collection[str] = ALL_DOORS,
    accounts: Mapping[str, list[str]] | None = None,
    log_level: str = "info",
) -> None:
    """Serve the simulator in the foreground (the `handoff simulate carrier` command);
    `accounts` (key -> [secret, customer code]) are accepted besides the demo account."""
    config = dataclasses.replace(config or SimConfig(), speed=speed)
    config.accounts = {**config.accounts, **(accounts or {})}
    uvicorn.run(create_app(config, doors), host=host, port=port, log_level=log_level,
                lifespan="off")


def serve_in_thread(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0,
    doors: Collection[str] = ALL_DOORS,
) -> tuple[str, Callable[[], None]]:
    """Start the simulator on a free loopback port in a daemon thread: (base_url, stop)."""
    return _serve(create_app(config, doors), "carrier-sim", host, port)


@contextlib.contextmanager
def running(config: SimConfig | None = None, doors: Collection[str] = ALL_DOORS
            ) -> Iterator[str]:
    """`with running(SimConfig(speed=600)) as base_url: ...` (route B at base_url + "lgsp")"""
    base_url, stop = serve_in_thread(config, doors=doors)
    try:
        yield base_url
    finally:
        stop()
