"""The carrier's status pushes: POST /hooks/carrier/{agency} (contract "Status push").

The post office calls the URL registered for one agency's account. Answers:
- 200 {"code": "success", "transaction": id} once the push is recorded: applied, logged as
  late/duplicate/unknown order, a transaction already taken (answered again, not applied
  twice), a push identical in content to one taken before under another transaction id
  (nothing stored), or quarantined for ops. "success" is what stops the carrier re-sending;
- 401 {"error", "field", "reason"} for an agency we do not know (a code that cannot name
  one, too: control characters, over 40 characters), an agency without a push secret or
  whose stored credentials do not open (an error line for ops, at most once a minute: the
  key setting is wrong), and a missing or wrong `ems-signature` (hex, either case): one
  answer for all, with the same work (one look-up, one HMAC with a key made ready
  beforehand, real or stand-in: worker/service/agencies/push_keys.py), so neither the answer nor its
  timing tells who exists, and the carrier is not told to re-send what we could never
  take; nothing is stored but the failure's count;
- 429 {"error", "field", "reason"} with Retry-After once the agency code from this address,
  this address for any code (a far higher limit), or past the agency's limit this network,
  has too many wrong signatures (worker/service/access/push_throttle.py): counted before the HMAC,
  so a right guess is not told either; one warning line a minute per address;
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
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from integrations.carriers.vnpost.push import (
    ERROR,
    HEADER_SIGNATURE,
    HEADER_TRANSACTION,
    SUCCESS,
    BadPush,
    answer,
    read_push,
    transaction_of,
)
from worker.domain.errors import InvalidInput
from worker.domain.model import CarrierAccount, TrackingEvent
from worker.domain.text import clean_text, safe_display
from worker.service.access import push_throttle
from worker.service.access.login_throttle import client_key
from worker.service.access.push_throttle import EveryMinute
from worker.service.agencies.push_keys import PushCheck, PushKeys
from worker.service.flow.pushes import take_push
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.web.bodies import BodyRefused, read_body

log = logging.getLogger(__name__)

MAX_AGENCY_CODE = 40  # the agencies' column: a longer code names no agency
UNAUTHORIZED = {"error": "invalid_signature", "field": HEADER_SIGNATURE,
                "reason": "chữ ký không hợp lệ hoặc đơn vị chưa đăng ký nhận tin báo"}
TOO_MANY = {"error": "too_many_failures", "field": HEADER_SIGNATURE,
            "reason": "quá nhiều chữ ký sai; đề nghị thử lại sau"}
UNAVAILABLE = "hệ thống tạm thời không ghi nhận được; đề nghị gửi lại sau"


@dataclass
class _Door:
    """What the hook keeps in one web process: the ready keys, and when it last warned."""

    keys: PushKeys = field(default_factory=PushKeys)
    throttled: EveryMinute = field(default_factory=EveryMinute)
    unreadable: EveryMinute = field(default_factory=EveryMinute)


def _door(request: Request) -> _Door:
    state = request.app.state
    door = getattr(state, "carrier_push_door", None)
    if door is None:  # made at the first push (two at once: one of them is kept)
        door = state.carrier_push_door = _Door()
    return door


async def carrier_hook(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    door = _door(request)
    agency = request.path_params["agency"]
    client = client_key(request.client.host if request.client else None)
    try:
        body = await read_body(request)
    except BodyRefused as err:
        return JSONResponse(err.as_dict(), err.status)
    try:
        admission = await run_in_threadpool(push_throttle.admit, rt.db, rt.settings, agency,
                                            client)
        if not admission.allowed:
            return _too_many(door, agency, client, admission.wait_seconds)
        check = await run_in_threadpool(_check_for, rt, door, agency)
    except SQLAlchemyError as err:
        log.error("carrier push for agency %s not taken: %s", safe_display(agency, 60),
                  type(err).__name__)  # the type only: its text may quote parameters
        return JSONResponse(answer(ERROR, "", UNAVAILABLE), 503)
    signatures = request.headers.getlist(HEADER_SIGNATURE)
    verified = check.key.verify(body, signatures[0] if len(signatures) == 1 else None)
    if check.unreadable and door.unreadable.due(agency) is not None:
        # answered as any unknown agency: a 503 would tell a stranger the agency exists and
        # keep the carrier re-sending until ops fix the key
        log.error("carrier push for agency %s refused: its stored credentials do not open "
                  "with HANDOFF_CREDENTIALS_KEY", safe_display(agency, 60))
    if check.account is None or not verified:
        log.info("carrier push refused for agency %s: %s", safe_display(agency, 60),
                 "bad or missing signature" if check.account else
                 "no such agency or no push secret")
        return JSONResponse(UNAUTHORIZED, 401)
    try:
        await run_in_threadpool(push_throttle.verified, rt.db, admission, agency, client)
        return await _signed(request, rt, agency, check.account, body)
    except SQLAlchemyError as err:
        log.error("carrier push of agency %s not taken: %s", agency, type(err).__name__)
        echo = safe_display(request.headers.get(HEADER_TRANSACTION) or "", 100)
        return JSONResponse(answer(ERROR, echo, UNAVAILABLE), 503)


async def _signed(request: Request, rt: Runtime, agency: str, account: CarrierAccount,
                  body: bytes) -> JSONResponse:
    """A push signed with the agency's secret: taken, or 400 when it cannot be."""
    raw_transaction = request.headers.get(HEADER_TRANSACTION)
    try:
        transaction = transaction_of(raw_transaction)
        event, content_key = read_push(body, transaction)
    except BadPush as err:
        log.warning("carrier push of agency %s refused: %s", agency, err.field)
        echo = safe_display(raw_transaction or "", 100)
        return JSONResponse(answer(ERROR, echo, err.reason), 400)
    await run_in_threadpool(_take, rt, agency, account, transaction, event, content_key)
    return JSONResponse(answer(SUCCESS, transaction), 200)


def _too_many(door: _Door, agency: str, client: str, wait: float) -> JSONResponse:
    """429 with Retry-After; one warning line a minute per address, not one per push."""
    held_back = door.throttled.due(client)
    if held_back is not None:
        log.warning("carrier push hook: pushes from %s refused for too many wrong "
                    "signatures (agency %s this time; %d more refused since the last line); "
                    "let through again within %d s", safe_display(client, 64),
                    safe_display(agency, 60), held_back, math.ceil(wait))
    seconds = max(math.ceil(wait), 1)
    return JSONResponse({**TOO_MANY, "reason": f"{TOO_MANY['reason']} {seconds} giây"}, 429,
                        headers={"Retry-After": str(seconds)})


def _usable_code(agency: str) -> bool:
    """Whether `agency` can name an agency at all: exactly a clean stored code (no NUL or
    other control characters, which PostgreSQL's driver refuses, not over the column's 40
    characters). Any other value is no agency and never reaches the database."""
    try:
        return clean_text(agency, "agency", max_len=MAX_AGENCY_CODE, required=True) == agency
    except InvalidInput:
        return False


def _check_for(rt: Runtime, door: _Door, agency: str) -> PushCheck:
    """How to check the agency's pushes: one look-up whoever asks (push_keys.py)."""
    with uow.read(rt) as s:
        return door.keys.check_for(s, rt.settings, agency if _usable_code(agency) else None)


def _take(rt: Runtime, agency: str, account: CarrierAccount, transaction: str,
          event: TrackingEvent, content_key: str) -> None:
    with uow.begin(rt) as s:  # the push-back it queues is rung once it commits
        take_push(s, rt.settings, agency, account, transaction, event, content_key)


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
         "description": "hex HMAC-SHA256 of the raw body with the agency's push secret "
                        "(lowercase; uppercase is taken too)", "schema": {"type": "string"}},
    ],
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": _ref("CarrierPush")}}},
    "responses": {
        "200": _json("Recorded: applied, logged only (late, duplicate, order not known or "
                     "of another account), quarantined, or already taken (the same "
                     "transaction id, or the same order, status code and time under "
                     "another id: nothing stored)", _ref("CarrierPushAnswer")),
        "400": _json("Signed, but no ems-transaction, not a JSON object, or no order named "
                     "(CarrierPushAnswer `error`); or Content-Length repeated (WebhookError)",
                     {"oneOf": [_ref("CarrierPushAnswer"), _ref("WebhookError")]}),
        "401": _json("Unknown agency, no push secret (or its stored credentials do not "
                     "open), or signature missing or wrong (one answer for all)",
                     _ref("WebhookError")),
        "413": _json("Body over 1,000,000 bytes", _ref("WebhookError")),
        "429": {**_json("Too many wrong signatures for this agency from this address, "
                        "from this address for any agency, or (past the agency's limit) "
                        "from this network; send again after Retry-After seconds",
                        _ref("WebhookError")),
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}},
        "503": _json("The database cannot be reached: send it again later",
                     _ref("CarrierPushAnswer")),
    }}}
