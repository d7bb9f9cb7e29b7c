"""Inbound webhooks: one-stop hand-off items pushed to /hooks/onestop (Standard Webhooks)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from integrations.onestop.mapping import item_id_of
from integrations.onestop.webhooks import BadSignature, verify_webhook, webhook_id_of
from worker import dispatcher
from worker.bootstrap import Runtime
from worker.domain.errors import InvalidInput
from worker.service.ingest import ingest_item, take_receipt

log = logging.getLogger(__name__)


async def onestop_hook(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    body = await request.body()
    try:
        payload = verify_webhook(rt.settings.webhook_secret, request.headers, body)
    except BadSignature as err:
        log.info("webhook rejected: %s", err.detail)
        return JSONResponse({"error": "invalid signature", "detail": err.reason}, 401)
    except InvalidInput as err:
        return JSONResponse({"error": "malformed body", "field": err.field,
                             "detail": err.reason}, 422)
    if item_id_of(payload) is None:  # the same rule as the feed: a string or an integer
        return JSONResponse({"error": "malformed body", "field": "id",
                             "detail": "thiếu id của mục"}, 422)
    msg_id = webhook_id_of(request.headers) or ""
    outcome = await run_in_threadpool(_take, rt, msg_id, payload)
    return JSONResponse(outcome, 200)


def _take(rt: Runtime, msg_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    with rt.db.unit_of_work() as s:
        if not take_receipt(s, "webhook", msg_id):
            return {"outcome": "duplicate"}
        result = ingest_item(s, payload, "webhook", rt.settings)
        s.flush()
        jobs = [j.id for j in result.jobs if j is not None]
    dispatcher.ring(rt, jobs)
    return {"outcome": result.outcome, "reason": result.reason}
