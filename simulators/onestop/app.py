"""One-stop system simulator: serves contract sections 1-3 on loopback, with fault injection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import fields

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from integrations.onestop.mapping import FEED_PATH, MAX_PAGE_SIZE
from simulators.onestop.state import FAULT_FIELDS, STATUS_NAMES, SimConfig, SimState, err
from simulators.serve import serve_in_thread as _serve
from worker.domain.model import HandoffKind

__all__ = ["SimConfig", "SimState", "create_app", "run", "serve_in_thread"]


class WireJSON(JSONResponse):
    """JSON with every non-ASCII character escaped: a real system may serve an item holding
    a lone surrogate ("\\ud800" is valid JSON text), which plain UTF-8 cannot encode."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _admin_body(request: Request) -> dict:
    """Admin bodies are optional: empty means {}."""
    raw = await request.body()
    body = json.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise TypeError("admin body must be a JSON object")
    return body


def create_app(config: SimConfig | dict | None = None) -> Starlette:
    """The simulator's ASGI app; ``app.state.sim`` is its SimState."""
    if isinstance(config, dict):
        config = SimConfig(**config)
    sim = SimState(config or SimConfig())

    async def api(request: Request, handler: Callable[[], JSONResponse]) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {sim.config.api_key}":
            return JSONResponse({"message": "khóa API không hợp lệ"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        if sim.config.latency_ms:
            await asyncio.sleep(sim.config.latency_ms / 1000)
        return sim.gate() or handler()

    async def feed(request: Request) -> JSONResponse:
        def handler() -> JSONResponse:
            try:
                limit = int(request.query_params.get("limit", "100"))
            except ValueError:
                return err(400, "limit phải là số nguyên")
            if not 1 <= limit <= MAX_PAGE_SIZE:
                return err(400, f"limit phải từ 1 đến {MAX_PAGE_SIZE}")
            try:
                items, nxt = sim.page(request.query_params.get("after") or None, limit)
            except ValueError:
                return err(400, "cursor không hợp lệ")
            return WireJSON({"items": items, "next": nxt})
        return await api(request, handler)

    async def dossier(request: Request) -> JSONResponse:
        code = request.path_params["code"]

        def handler() -> JSONResponse:
            with sim.lock:
                found = sim.dossiers.get(code)
                if found is None:
                    return err(404, f"không tìm thấy hồ sơ {code}")
                return JSONResponse({**found, "statusName": STATUS_NAMES[found["status"]]})
        return await api(request, handler)

    async def postal_event(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        return await api(request, lambda: sim.push(request.path_params["code"], body))

    async def admin_handoffs(request: Request) -> JSONResponse:
        body = await _admin_body(request)
        if isinstance(body.get("items"), list):
            return WireJSON({"items": sim.add_items(body["items"]), "defects": {}})
        kind = body.get("type", HandoffKind.RESULT_READY)
        if kind not in (HandoffKind.RESULT_READY, HandoffKind.PICKUP_REQUESTED):
            return err(400, "type phải là result_ready hoặc pickup_requested")
        items, defects = sim.generate(int(body.get("count", 1)), kind,
                                      int(body.get("invalid", 0)))
        return JSONResponse({"items": items, "defects": defects})

    async def admin_faults(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await _admin_body(request)
            unknown = set(body) - set(FAULT_FIELDS)
            if unknown:
                return err(400, f"unknown fault fields: {sorted(unknown)}")
            with sim.lock:
                for key, value in body.items():
                    setattr(sim.config, key, value)
        with sim.lock:
            return JSONResponse({k: getattr(sim.config, k) for k in FAULT_FIELDS})

    async def admin_events(request: Request) -> JSONResponse:
        code = request.query_params.get("dossier")
        with sim.lock:
            events = [e for e in sim.events if code is None or e["dossierCode"] == code]
        return JSONResponse({"events": events})

    async def admin_stats(request: Request) -> JSONResponse:
        return JSONResponse(sim.stats())

    async def admin_reset(request: Request) -> JSONResponse:
        sim.reset()
        return JSONResponse({"reset": True})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[
        Route(FEED_PATH, feed),
        Route("/api/v1/dossiers/{code}", dossier),
        Route("/api/v1/dossiers/{code}/postal-events", postal_event, methods=["POST"]),
        Route("/_admin/handoffs", admin_handoffs, methods=["POST"]),
        Route("/_admin/faults", admin_faults, methods=["GET", "POST"]),
        Route("/_admin/events", admin_events),
        Route("/_admin/stats", admin_stats),
        Route("/_admin/reset", admin_reset, methods=["POST"]),
        Route("/healthz", healthz),
    ])
    app.state.sim = sim
    return app


def run(host: str = "127.0.0.1", port: int = 8702, seed_count: int = 0, **config: object) -> None:
    """Serve in the foreground (``handoff simulate onestop``); extra kwargs go to SimConfig."""
    known = {f.name for f in fields(SimConfig)}
    extra = {k: v for k, v in config.items() if k in known}
    cfg = SimConfig(seed_count=seed_count, **extra)  # type: ignore[arg-type]
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="info")


def serve_in_thread(config: SimConfig | dict | None = None, host: str = "127.0.0.1",
                    port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start on `port` (a free one by default) in a daemon thread; returns (base_url, stop)."""
    base_url, stop = _serve(create_app(config), "onestop-sim", host, port)
    return base_url.rstrip("/"), stop
