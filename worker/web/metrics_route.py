"""GET /metrics: Prometheus text format, read from the database (and the carrier quota's
shared store) at scrape time.

Open like /healthz (for a scraper inside the network): it carries counts only, no
personal data and no dossier codes.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from worker.metrics import render


async def metrics(request: Request) -> Response:
    rt = request.app.state.runtime
    body = await run_in_threadpool(render, rt.db, rt.limiter)
    return Response(body, headers={"content-type": CONTENT_TYPE_LATEST})


routes = [Route("/metrics", metrics, methods=["GET"])]
