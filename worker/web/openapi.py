"""The OpenAPI 3.1 document of the desk API and the one-stop webhook, served at /openapi.json.

It is what the one-stop system's integrators read, so it states every answer, errors
included. The desk API's schemas are generated from the pydantic models that check the
requests (worker/web/api.py), so the two cannot drift; tests/unit/test_openapi.py walks the
app's routes and checks real answers against this document, and the schemathesis test
calls a running web process with what the document allows.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse

from worker.domain.enums import MAX_DESK_CODES
from worker.web import api, carrier_hooks

REF = "#/components/schemas/{model}"
JSON = "application/json"

_DESCRIPTION = """\
**Desk API** (`/api/v1/pickups…`): call the courier ("Gọi bưu tá") for dossiers, cancel a
call, list the hand-offs waiting at the desk. Every call carries
`Authorization: Bearer <token>`; a token is made by the operator with
`handoff token add NAME --agency CODE` and acts only for that agency (`agencyCode` may be
left out; naming another agency is 403). Every action is recorded as `api:<token name>`.

**Webhook** (`POST /hooks/onestop`): the one-stop system pushes hand-off items (contract
section 1), signed with Standard Webhooks (`webhook-id`, `webhook-timestamp` in Unix
seconds, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the shared
`whsec_` secret). A missing, wrong or stale (more than 5 minutes off) signature is 401.

Bodies are at most 1,000,000 bytes (413 otherwise, checked before anything is parsed or
verified) and JSON nested at most 32 levels. Every refusal names the field; `reason` is
Vietnamese, for people at the desk; `error` is a code for machines.
"""

_CITIZEN = {
    "type": "object", "required": ["name", "phone", "address", "provinceCode", "wardCode"],
    "properties": {
        "name": {"type": "string", "maxLength": 200, "examples": ["Nguyễn Thị Hồng"]},
        "phone": {"type": "string", "description": "0XXXXXXXXX or +84…; spaces, dots and "
                                                   "dashes allowed", "examples": ["0912345678"]},
        "email": {"type": ["string", "null"], "maxLength": 200},
        "address": {"type": "string", "maxLength": 400, "description": "street and house"},
        "provinceCode": {"type": ["string", "integer"],
                         "description": "GSO code of the province (units since 1 July 2025)",
                         "examples": ["82"]},
        "wardCode": {"type": ["string", "integer"], "description": "GSO code of the ward",
                     "examples": ["30226"]},
        "districtCode": {"type": ["string", "integer"],
                         "description": "legacy district code of an older dossier (optional)"},
    },
}
_NAMED = {"type": "object", "required": ["code"], "properties": {
    "code": {"type": "string", "maxLength": 40}, "name": {"type": "string", "maxLength": 300}}}

# Contract section 1, as the integrator sends it. Any signed body gets an answer: an item
# that breaks these rules is answered 200 with outcome `invalid` and recorded for the desk.
HANDOFF_ITEM: dict[str, Any] = {
    "title": "HandoffItem", "type": "object",
    "description": "One hand-off item of the one-stop system (contract section 1). "
                   "`handoff_cancelled` needs only id, type, dossierCode and agency.",
    "required": ["id", "type", "dossierCode", "agency", "createdAt"],
    "properties": {
        "id": {"type": ["string", "integer"], "maxLength": 80,
               "description": "unique per item; the same id is taken once",
               "examples": ["hof_01JD3Q6T1V"]},
        "type": {"enum": ["result_ready", "pickup_requested", "handoff_cancelled"]},
        "dossierCode": {"type": "string", "maxLength": 80,
                        "examples": ["000.00.17.H19-201126-0001"]},
        "procedure": _NAMED, "agency": _NAMED, "citizen": _CITIZEN,
        "codAmount": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000,
                      "description": "VND to collect on delivery"},
        "createdAt": {"type": "string", "format": "date-time",
                      "description": "with offset; between 2000-01-01 and one year ahead",
                      "examples": ["2026-11-26T09:15:00+07:00"]},
        "note": {"type": "string", "maxLength": 2000},
    },
}
WEBHOOK_ANSWER: dict[str, Any] = {
    "title": "WebhookAnswer", "type": "object", "required": ["outcome"],
    "description": "The item was recorded. `outcome`: created, duplicate (id or webhook-id "
                   "already taken), ignored, cancelled, invalid (recorded as needing "
                   "attention; `field` and `code` say what is wrong), quarantined.",
    "properties": {"outcome": {"type": "string"}, "reason": {"type": "string"},
                   "field": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}},
}
WEBHOOK_ERROR: dict[str, Any] = {
    "title": "WebhookError", "type": "object", "required": ["error", "field", "reason"],
    "description": "Nothing was recorded. `error` and `code` are for machines (e.g. "
                   "invalid_signature, malformed_body with code json.too_deep, "
                   "body_too_large); `reason` is Vietnamese.",
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]},
                   "code": {"type": ["string", "null"]}, "reason": {"type": "string"}},
    "additionalProperties": False,
}

_REQUESTS: list[type[BaseModel]] = [api.PickupRequest, api.CancelRequest]
_ANSWERS: list[type[BaseModel]] = [api.PickupResults, api.PickupResult, api.PendingList,
                                   api.ApiError]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _answer(description: str, schema: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}, **extra}


_ERRORS = {
    "400": _answer("Content-Length repeated or not a number", "ApiError"),
    "401": _answer("No token, an unknown token or a revoked one", "ApiError", headers={
        "WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}}),
    "403": _answer("The token is bound to another agency than the one named", "ApiError"),
    "413": _answer("Body over 1,000,000 bytes", "ApiError"),
    "422": _answer("Body or parameter refused; `field` names it (e.g. `dossierCodes[3]`)",
                   "ApiError"),
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _ERRORS[code] for code in codes}


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": _ref(schema)}}}


def _header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": True, "description": description,
            "schema": {"type": "string"}}


_AGENCY_QUERY = {"name": "agency", "in": "query", "required": False,
                 "description": "agency code; an agency token may name only its own",
                 "schema": {"type": "string", "maxLength": api.MAX_AGENCY_CHARS}}
_CODE_PATH = {"name": "code", "in": "path", "required": True, "description": "dossier code",
              "schema": {"type": "string", "minLength": 1, "maxLength": api.MAX_CODE_CHARS}}
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_WEBHOOK_ERROR = {"content": {JSON: {"schema": _ref("WebhookError")}}}

PATHS: dict[str, Any] = {
    "/api/v1/pickups": {"post": {
        "operationId": "requestPickups", "tags": ["desk"], "security": _BEARER,
        "summary": f"Call the courier for up to {MAX_DESK_CODES} dossiers; a repeat orders "
                   "nothing twice",
        "requestBody": _body("PickupRequest"),
        "responses": {"200": _answer("One result per distinct code, in order",
                                     "PickupResults"),
                      **_errors("400", "401", "403", "413", "422")}}},
    "/api/v1/pickups/{code}/cancel": {"post": {
        "operationId": "cancelPickup", "tags": ["desk"], "security": _BEARER,
        "summary": "Cancel a call while the courier has not taken the item",
        "parameters": [_CODE_PATH], "requestBody": _body("CancelRequest", required=False),
        "responses": {"200": _answer("Cancelled, or the carrier is being asked to cancel",
                                     "PickupResult"),
                      "409": _answer("Refused (outcome `refused`): the courier took the item,"
                                     " the request ended, or the dossier is unknown or of "
                                     "another agency", "PickupResult"),
                      **_errors("400", "401", "403", "413", "422")}}},
    "/api/v1/pickups/pending": {"get": {
        "operationId": "pendingPickups", "tags": ["desk"], "security": _BEARER,
        "summary": "Hand-offs waiting for the desk to call the courier, oldest first",
        "parameters": [_AGENCY_QUERY],
        "responses": {"200": _answer("Waiting hand-offs, personal data masked; the oldest "
                                     "ones only when `truncated`", "PendingList"),
                      **_errors("401", "403", "422")}}},
    "/hooks/onestop": {"post": {
        "operationId": "onestopWebhook", "tags": ["webhook"], "security": [],
        "summary": "The one-stop system pushes one hand-off item (Standard Webhooks)",
        "parameters": [
            _header("webhook-id", "unique message id; a repeated id is answered `duplicate`"),
            _header("webhook-timestamp", "Unix seconds; at most 5 minutes off"),
            _header("webhook-signature", 'v1,<base64 HMAC-SHA256 of "id.timestamp.body">'),
        ],
        "requestBody": _body("HandoffItem"),
        "responses": {
            "200": _answer("Recorded (also an invalid item: it waits for the desk)",
                           "WebhookAnswer"),
            "400": {"description": "A webhook header or Content-Length repeated",
                    **_WEBHOOK_ERROR},
            "401": {"description": "Signature missing, wrong, or timestamp over 5 minutes "
                                   "off (also every unsigned request)", **_WEBHOOK_ERROR},
            "413": {"description": "Body over 1,000,000 bytes", **_WEBHOOK_ERROR},
            "422": {"description": "Signed, but not a JSON object with an id, or nested "
                                   "deeper than 32", **_WEBHOOK_ERROR},
        }}},
    "/hooks/carrier/{agency}": carrier_hooks.OPENAPI_PATH,
}


@cache
def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (built once: it depends only on the code)."""
    _, defs = models_json_schema([(m, "validation") for m in _REQUESTS]
                                 + [(m, "serialization") for m in _ANSWERS],
                                 ref_template=REF)
    schemas = {**defs["$defs"], "HandoffItem": HANDOFF_ITEM, "WebhookAnswer": WEBHOOK_ANSWER,
               "WebhookError": WEBHOOK_ERROR, **carrier_hooks.OPENAPI_SCHEMAS}
    return {
        "openapi": "3.1.0",
        "info": {"title": "postal-handoff: desk API and one-stop webhook", "version": "1",
                 "description": _DESCRIPTION},
        "tags": [{"name": "desk", "description": "Desk actions, one bearer token per agency"},
                 {"name": "webhook", "description": "Pushes from the one-stop system"}],
        "paths": PATHS,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "A token from `handoff token add` (`hpk_…`), bound to one "
                               "agency unless made with --all-agencies"}},
        },
    }


async def serve(request: Request) -> JSONResponse:
    return JSONResponse(document())
