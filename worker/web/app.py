"""The web process: desk and ops pages, the desk API, webhooks, health, readiness, metrics."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from worker.bootstrap import runtime
from worker.domain.enums import Role
from worker.launch.celery_app import app as celery_app
from worker.service.runtime import Runtime
from worker.web import (
    agencies_page,
    api,
    auth,
    desk,
    metrics_route,
    openapi,
    ops,
    ops_cod,
    session,
    settings_page,
)
from worker.web.bodies import BodyLimit
from worker.web.carrier_hooks import carrier_hook
from worker.web.hooks import onestop_hook
from worker.web.security_headers import SecurityHeaders


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    checks = await run_in_threadpool(_readiness, rt)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(checks, 200 if ok else 503)


def _readiness(rt: Runtime) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("select 1"))
        out["database"] = "ok"
    except Exception as err:  # readiness reports, it does not raise
        out["database"] = f"down: {type(err).__name__}"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        out["broker"] = "ok"
    except Exception as err:  # readiness reports, it does not raise
        out["broker"] = f"down: {type(err).__name__}"
    return out


async def home(request: Request) -> RedirectResponse:
    user = session.current_user(request)
    if user is None:
        return RedirectResponse("/login", 303)
    return RedirectResponse("/ops" if user.role == Role.OPS else "/desk", 303)


def create_app(rt: Runtime | None = None) -> Starlette:
    rt = rt or runtime()
    s = rt.settings
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/hooks/onestop", onestop_hook, methods=["POST"]),
            Route("/hooks/carrier/{agency}", carrier_hook, methods=["POST"]),
            Route("/openapi.json", openapi.serve),
            Mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")),
                  name="static"),
            *auth.routes, *desk.routes, *api.routes, *ops.routes, *metrics_route.routes,
            *settings_page.routes, *agencies_page.routes, *ops_cod.routes,
        ],
        middleware=[Middleware(
            # the signed cookie holds only a session id (or the login form's CSRF token);
            # SessionUsers, inside it, finds the server-side session and its user
            SessionMiddleware, secret_key=s.session_secret.get_secret_value(),
            session_cookie="handoff_session", max_age=s.session_max_age_seconds,
            same_site="strict", https_only=s.cookie_secure,
        ), Middleware(session.SessionUsers)],
    )
    app.state.runtime = rt
    app.add_middleware(BodyLimit)  # no body over 1 MB reaches any route, forms included
    # outermost of our middleware: every answer, including the others' refusals, gets them
    app.add_middleware(SecurityHeaders, hsts=s.cookie_secure)
    return app
