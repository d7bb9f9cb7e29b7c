"""GET /metrics: Prometheus text format from the database's kept totals (and the carrier
quota's shared store), behind a bearer token, computed at most once per cache interval.

Who may read it: with HANDOFF_METRICS_TOKEN set, only a request carrying
`Authorization: Bearer <token>` (401 otherwise, everywhere). Unset, the endpoint is off
(404, the answer of any unknown path: nothing is read, and nothing tells a prober it is
there) everywhere but the embedded default, the demo on one machine, which listens on
loopback and keeps it open. The body holds counts and account names, no personal data.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from worker.service.views.metrics import render
from worker.settings import Settings


class ScrapeCache:
    """One computation per `ttl` seconds whatever the request rate: a request that finds
    the body fresh gets it; concurrent requests that find it stale wait for the one
    computation in flight and share its result (the lock is taken before the check)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self.computations = 0
        self._body = b""
        self._at = -math.inf
        self._lock = asyncio.Lock()

    async def get(self, compute: Callable[[], bytes]) -> bytes:
        async with self._lock:
            if self.clock() - self._at >= self.ttl:
                self._body = await run_in_threadpool(compute)  # database reads: off the loop
                self._at = self.clock()
                self.computations += 1
            return self._body


def scrape_cache(app: Starlette, settings: Settings) -> ScrapeCache:
    """The app's one cache, made on first use (every request of this process shares it)."""
    cache: ScrapeCache | None = getattr(app.state, "metrics_cache", None)
    if cache is None:
        cache = app.state.metrics_cache = ScrapeCache(settings.metrics_cache_seconds)
    return cache


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def _refusal(request: Request, settings: Settings) -> Response | None:
    """None when the request may read the metrics; else the answer it gets."""
    token = settings.metrics_token
    if token is None:
        if settings.on_embedded_default:
            return None
        raise HTTPException(status_code=404)  # off: answered like any path that is not there
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # digests of equal length: the comparison tells nothing of the token, not even its length
    if scheme.lower() == "bearer" and hmac.compare_digest(
            _digest(given.strip()), _digest(token.get_secret_value())):
        return None
    return PlainTextResponse("bearer token required\n", 401,
                             headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


async def metrics(request: Request) -> Response:
    rt = request.app.state.runtime
    refused = _refusal(request, rt.settings)
    if refused is not None:
        return refused
    body = await scrape_cache(request.app, rt.settings).get(lambda: render(rt.db, rt.limiter))
    return Response(body, headers={"content-type": CONTENT_TYPE_LATEST,
                                   "cache-control": "no-store"})


routes = [Route("/metrics", metrics, methods=["GET"])]
