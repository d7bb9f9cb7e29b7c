"""The carrier's status pushes: POST /hooks/carrier/{agency} (contract "Status push").

The post office calls the URL registered for one agency's account. Answers:
- 200 {"code": "success", "transaction": id} once the push is recorded: applied, logged as
  late/duplicate/unknown order, a transaction already taken (answered again, not applied
  twice), or quarantined for ops. "success" is what stops the carrier re-sending;
- 401 {"error", "field", "reason"} for an agency we do not know (a code that cannot name
  one, too: control characters, over 40 characters), an agency without a push secret or
  whose stored credentials do not open (logged as an error for ops: the key setting is
  wrong), and a missing or wrong `ems-signature`: one answer for all, checked with the same
  work (an HMAC is computed in every case), so the URL does not tell who exists and the
  carrier is not told to re-send what we could never take; nothing is stored;
- 413 for a body over 1 MB (by its Content-Length or while it streams, before the HMAC);
- 400 {"code": "error", "transaction", "reason"} for a signed push we cannot take: no
  `ems-transaction` header, not a JSON object, no order_code nor tracking_code. Not
  "success", because "success" tells the carrier we have it and it would never send that
  status again; an error leaves it to re-send (a corrected push is taken then), and the
  tracking feed still brings the milestone meanwhile. Nothing is stored;
- 503 {"code": "error", ...} when the database cannot be reached: the carrier re-sends
  later and the push is taken then.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from integrations.carrier.push import (
    ERROR,
    HEADER_SIGNATURE,
    HEADER_TRANSACTION,
    SUCCESS,
    BadPush,
    answer,
    parse_push,
    transaction_of,
    verify,
)
from worker.domain.errors import InvalidInput
from worker.domain.model import CarrierAccount, TrackingEvent
from worker.domain.text import clean_text, safe_display
from worker.service import agencies, uow
from worker.service.pushes import take_push
from worker.service.runtime import Runtime
from worker.service.vault import VaultError
from worker.web.bodies import BodyRefused, read_body

log = logging.getLogger(__name__)

MAX_AGENCY_CODE = 40  # the agencies' column: a longer code names no agency
# HMAC'd when there is no secret to check against, so an unknown agency costs the same
# work as a known one and the answer's timing tells nothing either.
_NO_SECRET = secrets.token_hex(32)
UNAUTHORIZED = {"error": "invalid_signature", "field": HEADER_SIGNATURE,
                "reason": "chữ ký không hợp lệ hoặc đơn vị chưa đăng ký nhận tin báo"}
UNAVAILABLE = "hệ thống tạm thời không ghi nhận được; đề nghị gửi lại sau"


async def carrier_hook(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    agency = request.path_params["agency"]
    try:
        body = await read_body(request)
    except BodyRefused as err:
        return JSONResponse(err.as_dict(), err.status)
    try:
        account = await run_in_threadpool(_account, rt, agency)
    except SQLAlchemyError as err:
        log.error("carrier push for agency %s not taken: %s", safe_display(agency, 60),
                  type(err).__name__)  # the type only: its text may quote parameters
        return JSONResponse(answer(ERROR, "", UNAVAILABLE), 503)
    except VaultError:
        # No secret to check against: answered as any unknown agency (a 503 would tell a
        # stranger the agency exists and keep the carrier re-sending until ops fix the key)
        log.error("carrier push for agency %s refused: its stored credentials do not open "
                  "with HANDOFF_CREDENTIALS_KEY", safe_display(agency, 60))
        account = None
    signatures = request.headers.getlist(HEADER_SIGNATURE)
    signature = signatures[0] if len(signatures) == 1 else None
    secret = account.push_secret if account is not None else ""
    verified = verify(secret or _NO_SECRET, body, signature)  # computed either way
    if account is None or not secret or not verified:
        log.info("carrier push refused for agency %s: %s", safe_display(agency, 60),
                 "bad or missing signature" if secret else "no such agency or no push secret")
        return JSONResponse(UNAUTHORIZED, 401)
    raw_transaction = request.headers.get(HEADER_TRANSACTION)
    try:
        transaction = transaction_of(raw_transaction)
        event = parse_push(body, transaction)
    except BadPush as err:
        log.warning("carrier push of agency %s refused: %s", agency, err.field)
        echo = safe_display(raw_transaction or "", 100)
        return JSONResponse(answer(ERROR, echo, err.reason), 400)
    try:
        await run_in_threadpool(_take, rt, agency, account, transaction, event)
    except SQLAlchemyError as err:
        log.error("carrier push %s of agency %s not taken: %s", transaction, agency,
                  type(err).__name__)
        return JSONResponse(answer(ERROR, transaction, UNAVAILABLE), 503)
    return JSONResponse(answer(SUCCESS, transaction), 200)


def _usable_code(agency: str) -> bool:
    """Whether `agency` can name an agency at all: exactly a clean stored code (no NUL or
    other control characters, which PostgreSQL's driver refuses, not over the column's 40
    characters). Any other value is no agency and never reaches the database."""
    try:
        return clean_text(agency, "agency", max_len=MAX_AGENCY_CODE, required=True) == agency
    except InvalidInput:
        return False


def _account(rt: Runtime, agency: str) -> CarrierAccount | None:
    """The agency's post-office account, None when there is no such agency (VaultError
    when its stored credentials do not open)."""
    if not _usable_code(agency):
        return None
    with rt.db.unit_of_work() as s:
        return agencies.account_of(s, rt.settings, agency)


def _take(rt: Runtime, agency: str, account: CarrierAccount, transaction: str,
          event: TrackingEvent) -> None:
    with uow.begin(rt) as s:  # the push-back it queues is rung once it commits
        take_push(s, rt.settings, agency, account, transaction, event)


# --- Its part of /openapi.json (worker/web/openapi.py adds it to the document) ------------
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI_SCHEMAS: dict[str, Any] = {
    "CarrierPush": {
        "title": "CarrierPush", "type": "object",
        "description": "One status of one order, as the post office pushes it (contract "
                       "\"Status push\"). At least one of order_code and tracking_code.",
        "properties": {
            "tracking_code": {"type": "string", "examples": ["EB123456785VN"]},
            "order_code": {"type": "string", "description": "our OrderNumber"},
            "status_code": {"type": ["integer", "string"],
                            "description": "1 Đã tạo … 13 Phát hoàn thành công"},
            "status_name": {"type": "string"}, "note": {"type": "string"},
            "locate": {"type": "string", "description": "the post office"},
            "datetime": {"type": "string", "description": "dd/mm/YYYY HH:MM:SS, +07:00",
                         "examples": ["27/11/2026 10:02:00"]},
            "total_weight": {"type": "number"},
        },
    },
    "CarrierPushAnswer": {
        "title": "CarrierPushAnswer", "type": "object", "required": ["code", "transaction"],
        "description": "`success`: recorded (the carrier stops re-sending this transaction). "
                       "`error`: not recorded, send it again; `reason` (Vietnamese) says why.",
        "properties": {"code": {"enum": [SUCCESS, ERROR]}, "transaction": {"type": "string"},
                       "reason": {"type": "string"}},
        "additionalProperties": False,
    },
}
OPENAPI_PATH: dict[str, Any] = {"post": {
    "operationId": "carrierStatusPush", "tags": ["webhook"], "security": [],
    "summary": "The post office pushes one status of one order of an agency's account",
    "parameters": [
        {"name": "agency", "in": "path", "required": True, "description": "agency code",
         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_AGENCY_CODE}},
        {"name": HEADER_TRANSACTION, "in": "header", "required": True,
         "description": "the carrier's id of this push; a repeated id is answered `success` "
                        "again and not applied twice", "schema": {"type": "string"}},
        {"name": HEADER_SIGNATURE, "in": "header", "required": True,
         "description": "lowercase hex HMAC-SHA256 of the raw body with the agency's push "
                        "secret", "schema": {"type": "string"}},
    ],
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": _ref("CarrierPush")}}},
    "responses": {
        "200": _json("Recorded: applied, logged only (late, duplicate, order not known or "
                     "of another account) or quarantined", _ref("CarrierPushAnswer")),
        "400": _json("Signed, but no ems-transaction, not a JSON object, or no order named "
                     "(CarrierPushAnswer `error`); or Content-Length repeated (WebhookError)",
                     {"oneOf": [_ref("CarrierPushAnswer"), _ref("WebhookError")]}),
        "401": _json("Unknown agency, no push secret (or its stored credentials do not "
                     "open), or signature missing or wrong (one answer for all)",
                     _ref("WebhookError")),
        "413": _json("Body over 1,000,000 bytes", _ref("WebhookError")),
        "503": _json("The database cannot be reached: send it again later",
                     _ref("CarrierPushAnswer")),
    }}}
