"""Inbound webhooks: one-stop hand-off items pushed to /hooks/onestop (Standard Webhooks).

Answers: 200 {"outcome", "reason"[, "field", "code"]} once the item is recorded (created,
duplicate, invalid → needs_attention with the field and reason, quarantined, ...); 401 for a
missing, wrong, stale or repeated signature header; 413 for a body over 1 MB (refused by its
Content-Length or while streaming, before the signature is computed); 422 for a signed body
that is not a JSON object with an id, or is nested too deep. Refusals have the desk API's
shape, {"error", "field", "reason"[, "code"]}, `reason` in Vietnamese. Nothing is stored on
401/413/422.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from integrations.onestop.mapping import read_item
from integrations.onestop.webhooks import (
    HEADER_ID,
    HEADER_SIGNATURE,
    BadSignature,
    single_headers,
    verify_webhook,
)
from worker.domain.enums import EventSource, IngestOutcome
from worker.domain.errors import InvalidInput
from worker.domain.model import OnestopItem
from worker.domain.text import sanitize_text
from worker.service.flow.ingest import describe_item, ingest_item, take_receipt
from worker.service.flow.ingested import Ingested
from worker.service.flow.isolation import take_one
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.web.bodies import BodyRefused, read_body

log = logging.getLogger(__name__)

# the database failing while the item was taken: nothing stored, the sender sends it again
UNAVAILABLE = {"error": "unavailable",
               "reason": "hệ thống tạm thời không lưu được mục này; hãy gửi lại sau ít phút"}


async def onestop_hook(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    try:
        headers = single_headers(request.headers.items())
        body = await read_body(request)
        payload = verify_webhook(rt.settings.webhook_secret, headers, body)
    except BodyRefused as err:
        return JSONResponse(err.as_dict(), err.status)
    except BadSignature as err:
        log.info("webhook rejected: %s", err.detail)
        return JSONResponse({"error": "invalid_signature", "field": HEADER_SIGNATURE,
                             "reason": err.reason}, 401)
    except InvalidInput as err:
        return JSONResponse({"error": "malformed_body", "field": err.field, "code": err.code,
                             "reason": err.reason}, 422)
    item = read_item(payload)  # the adapter reads it as it reads a feed item
    if item.item_id is None:  # the same rule as the feed: a string or an integer
        return JSONResponse({"error": "malformed_body", "field": "id", "code": "id.missing",
                             "reason": "thiếu id của mục (chuỗi hoặc số nguyên, tối đa 80 "
                                       "ký tự)"}, 422)
    msg_id = sanitize_text(headers.get(HEADER_ID), 120)
    try:
        outcome = await run_in_threadpool(_take, rt, msg_id, item)
    except SQLAlchemyError as err:  # the database failing: nothing was stored
        log.error("webhook %s not taken: %s", msg_id, type(err).__name__)  # the type only:
        return JSONResponse(UNAVAILABLE, 503)  # its text may quote parameters; sent again
    return JSONResponse(outcome, 200)


def _take(rt: Runtime, msg_id: str, item: OnestopItem) -> dict[str, Any]:
    taken: list[Ingested] = []

    def take(got: OnestopItem) -> list[Any]:
        taken.append(ingest_item(s, got, EventSource.WEBHOOK, rt.settings))
        return taken[-1].jobs

    with uow.begin(rt) as s:  # what the item created is rung once it commits
        if not take_receipt(s, EventSource.WEBHOOK, msg_id):
            return {"outcome": IngestOutcome.DUPLICATE}
        # in its own savepoint, like a feed item: whatever goes wrong with the item, it is
        # quarantined in the status log and the sender gets an answer; the database failing
        # is raised (nothing stored, a 503: the sender sends it again)
        jobs = take_one(s, item, take, lambda got: describe_item(got, EventSource.WEBHOOK))
    if jobs is None:
        return {"outcome": "quarantined",
                "reason": "không xử lý được mục này; bộ phận vận hành sẽ kiểm tra"}
    return taken[-1].as_answer()
