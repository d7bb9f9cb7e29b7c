"""The web process: inbound webhooks, health and readiness (desk and ops pages mount here)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from worker.bootstrap import Runtime, runtime
from worker.web.hooks import onestop_hook


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    checks = await run_in_threadpool(_readiness, rt)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(checks, 200 if ok else 503)


def _readiness(rt: Runtime) -> dict[str, str]:
    from sqlalchemy import text

    out: dict[str, str] = {}
    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("select 1"))
        out["database"] = "ok"
    except Exception as err:
        out["database"] = f"down: {type(err).__name__}"
    try:
        from worker.tasks import app as celery_app

        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        out["broker"] = "ok"
    except Exception as err:
        out["broker"] = f"down: {type(err).__name__}"
    return out


def create_app(rt: Runtime | None = None) -> Starlette:
    app = Starlette(routes=[
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/hooks/onestop", onestop_hook, methods=["POST"]),
    ])
    app.state.runtime = rt or runtime()
    return app
