"""The desk HTTP API (bearer token): request and cancel courier pickups.

Every call needs `Authorization: Bearer <HANDOFF_DESK_API_TOKEN>`; otherwise 401.

- `POST /api/v1/pickups` with `{"dossierCodes": ["...", ...], "agencyCode": "..."?}`
  (at most 500 codes) → 200 `{"results": [{"dossierCode", "outcome", "label", "reason"}]}`,
  one result per distinct code, in order; `outcome` is `ordered`, `already_ordered` or
  `refused` (with a reason). A repeated call orders nothing twice. A malformed body → 422
  `{"error": "invalid_body", "field": ..., "reason": ...}`. `error` and `field` are wire names
  (English); `reason` is Vietnamese, for the person at the desk.
- `POST /api/v1/pickups/{code}/cancel` (optional body `{"agencyCode": "..."}`) → 200 with one
  result whose outcome is `cancelled` or `cancel_requested` (the carrier is being asked);
  409 with outcome `refused` and the reason when it cannot be cancelled (the courier already
  took the item, the request has ended, or the dossier is unknown or of another agency).
- `GET /api/v1/pickups/pending?agency=...` → 200 `{"items": [...]}`: hand-offs waiting for
  the courier to be called, oldest first, phone numbers masked.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.service import desk as service

MAX_CODES = 500
MAX_BODY_BYTES = 256 * 1024

Handler = Callable[[Request], Awaitable[Response]]


class BodyError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def _unprocessable(err: BodyError) -> JSONResponse:
    return JSONResponse({"error": "invalid_body", "field": err.field, "reason": err.reason}, 422)


def token_required(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        expected = request.app.state.runtime.settings.desk_api_token.get_secret_value()
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if not (expected and scheme.lower() == "bearer"
                and secrets.compare_digest(sent.strip().encode(), expected.encode())):
            return JSONResponse(
                {"error": "unauthorized",
                 "reason": "thiếu mã truy cập (bearer token) hoặc mã không đúng"},
                401, headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return wrapper


async def _json_object(request: Request, *, required: bool) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise BodyError("body", f"nội dung gửi lên lớn hơn {MAX_BODY_BYTES} byte")
    if not body.strip():
        if required:
            raise BodyError("body", "cần gửi một đối tượng JSON")
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BodyError("body", "nội dung gửi lên không phải JSON hợp lệ") from None
    if not isinstance(data, dict):
        raise BodyError("body", "nội dung gửi lên phải là một đối tượng JSON")
    return data


def _agency(data: dict[str, Any]) -> str | None:
    agency = data.get("agencyCode")
    if agency is not None and not isinstance(agency, str):
        raise BodyError("agencyCode", "agencyCode phải là chuỗi ký tự hoặc null")
    return (agency or "").strip() or None


def _codes(data: dict[str, Any]) -> list[str]:
    codes = data.get("dossierCodes")
    if codes is None:
        raise BodyError("dossierCodes", "thiếu dossierCodes (danh sách mã hồ sơ)")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise BodyError("dossierCodes", "dossierCodes phải là danh sách các mã hồ sơ (chuỗi ký tự)")
    if not codes:
        raise BodyError("dossierCodes", "dossierCodes không được để trống")
    if len(codes) > MAX_CODES:
        raise BodyError("dossierCodes", f"mỗi lần gửi tối đa {MAX_CODES} mã hồ sơ")
    return codes


@token_required
async def request_pickups(request: Request) -> Response:
    try:
        data = await _json_object(request, required=True)
        codes, agency = _codes(data), _agency(data)
    except BodyError as err:
        return _unprocessable(err)
    outcomes = await run_in_threadpool(
        service.request_pickups, request.app.state.runtime, codes, actor="api",
        agency_code=agency)
    return JSONResponse({"results": [o.as_dict() for o in outcomes]})


@token_required
async def cancel_pickup(request: Request) -> Response:
    try:
        agency = _agency(await _json_object(request, required=False))
    except BodyError as err:
        return _unprocessable(err)
    outcome = await run_in_threadpool(
        service.cancel, request.app.state.runtime, request.path_params["code"],
        actor="api", agency_code=agency)
    return JSONResponse(outcome.as_dict(), 409 if outcome.outcome == "refused" else 200)


@token_required
async def pending(request: Request) -> Response:
    rt = request.app.state.runtime
    agency = request.query_params.get("agency", "").strip() or None

    def load() -> list[dict[str, Any]]:
        with rt.db.unit_of_work() as s:
            return [{
                "dossierCode": w.dossier_code, "direction": w.direction,
                "procedureName": w.procedure_name, "citizenName": w.citizen_name,
                "phoneMasked": w.phone_masked, "place": w.place,
                "readyAt": w.ready_at.isoformat(), "waitedSeconds": w.waited_seconds,
            } for w in service.pending(s, agency)]

    return JSONResponse({"items": await run_in_threadpool(load)})


routes = [
    Route("/api/v1/pickups", request_pickups, methods=["POST"]),
    Route("/api/v1/pickups/pending", pending, methods=["GET"]),
    Route("/api/v1/pickups/{code}/cancel", cancel_pickup, methods=["POST"]),
]
