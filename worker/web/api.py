"""The desk HTTP API: call and cancel couriers, list who waits; one bearer token per agency.

Every call needs `Authorization: Bearer <token>` made by `handoff token add`; otherwise 401.
A token bound to an agency acts only for it (`agencyCode` may be left out; another agency
is 403), and every action is recorded as `api:<token name>`. Bodies and parameters are
checked here, at the boundary, by the pydantic models below, which also give the schemas
of /openapi.json (worker/web/openapi.py). Every refusal is `{"error", "field", "reason"}`:
`error` and `field` are wire names (English), `reason` is Vietnamese for people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.domain.enums import MAX_DESK_CODES, DeskOutcomeKind
from worker.domain.errors import InvalidInput
from worker.domain.privacy import mask_name
from worker.domain.text import clean_text
from worker.service.access import api_tokens
from worker.service.flow import desk as service
from worker.service.flow.desk_queue import MAX_PENDING
from worker.web.bodies import BodyRefused, read_json_object
from worker.web.units import reading, writing

MAX_CODE_CHARS = 80  # Handoff.dossier_code
MAX_AGENCY_CHARS = 40  # Handoff.agency_code

Handler = Callable[[Request], Awaitable[Response]]


def _text(max_len: int, what: str, *, required: bool) -> Callable[[object], str | None]:
    """A pydantic before-validator running clean_text, its refusal kept in Vietnamese."""

    def run(value: object) -> str | None:
        try:
            return clean_text(value, "", max_len=max_len, required=required, what=what) or None
        except InvalidInput as err:
            raise _refusal(err.code or "invalid", err.reason) from None

    return run


def _refusal(code: str, reason: str) -> PydanticCustomError:
    # the reason rides in the context, so _validated finds our Vietnamese text as it is
    return PydanticCustomError(code, "{reason}", {"reason": reason})


def _code_list(value: object) -> object:
    if not isinstance(value, list):
        raise _refusal("list_type", "dossierCodes phải là danh sách các mã hồ sơ (chuỗi ký tự)")
    if not value:
        raise _refusal("too_short", "dossierCodes không được để trống")
    if len(value) > MAX_DESK_CODES:
        raise _refusal("too_long", f"mỗi lần gửi tối đa {MAX_DESK_CODES} mã hồ sơ")
    return value


DossierCode = Annotated[str, BeforeValidator(_text(MAX_CODE_CHARS, "mã hồ sơ", required=True)),
                        Field(min_length=1, max_length=MAX_CODE_CHARS,
                              examples=["000.00.17.H19-201126-0001"])]
AgencyCode = Annotated[
    Annotated[str, Field(max_length=MAX_AGENCY_CHARS)] | None,
    BeforeValidator(_text(MAX_AGENCY_CHARS, "mã đơn vị", required=False)),
    Field(description="Agency code. May be left out (or blank, or null): a token bound to "
                      "an agency acts for it; naming another agency is 403.",
          examples=["000.00.17.H19"])]


class PickupRequest(BaseModel):
    """Call the courier ("Gọi bưu tá") for one or more dossiers."""

    model_config = ConfigDict(extra="forbid")
    dossierCodes: Annotated[list[DossierCode], BeforeValidator(_code_list),
                            Field(min_length=1, max_length=MAX_DESK_CODES)]
    agencyCode: AgencyCode = None


class CancelRequest(BaseModel):
    """Optional body of a cancel."""

    model_config = ConfigDict(extra="forbid")
    agencyCode: AgencyCode = None


class PickupResult(BaseModel):
    """What happened to one dossier; `reason` (Vietnamese) says why when refused."""

    dossierCode: str
    outcome: DeskOutcomeKind
    label: str = Field(description="the outcome in Vietnamese, for the desk")
    reason: str


class PickupResults(BaseModel):
    results: list[PickupResult] = Field(description="one per distinct code, in order")


class PendingItem(BaseModel):
    """A hand-off waiting for the desk to call the courier; personal data masked."""

    dossierCode: str
    direction: Literal["result_delivery", "pickup"]
    procedureName: str
    citizenName: str = Field(description="initials only, e.g. 'N. T. H***'")
    phoneMasked: str = Field(description="e.g. '09****678'")
    place: str = Field(description="ward and province (no street address)")
    readyAt: datetime
    waitedSeconds: int


class PendingList(BaseModel):
    items: list[PendingItem] = Field(description=f"oldest first, at most {MAX_PENDING}")
    total: int = Field(description="how many hand-offs wait in all (in the token's scope)")
    truncated: bool = Field(description="true when `items` holds fewer than `total`: the "
                                        "oldest are listed; call the courier for them and "
                                        "ask again for the rest")


class ApiError(BaseModel):
    """A refusal: `error` is a code for machines, `reason` Vietnamese for people."""

    error: str = Field(examples=["invalid_body"])
    field: str = Field(description="the field at fault, e.g. `dossierCodes[3]`, `agencyCode`,"
                                   " `body`, `Authorization`")
    reason: str


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        field = _field_name(tuple(first["loc"]))
        ours = first.get("ctx", {}).get("reason")
        if isinstance(ours, str):
            reason = ours
        elif first["type"] == "missing":
            reason = f"thiếu {field}"
        elif first["type"] == "extra_forbidden":
            reason = f"không có trường {field} trong yêu cầu này"
        else:
            reason = "giá trị không hợp lệ"
        raise BodyRefused(422, "invalid_body", reason, field) from None


def _param(value: object, field: str, max_len: int, what: str, *, required: bool) -> str:
    try:
        return clean_text(value, field, max_len=max_len, required=required, what=what)
    except InvalidInput as err:
        raise BodyRefused(422, "invalid_parameter", err.reason, field) from None


def _only_query(request: Request, *allowed: str) -> None:
    """Refuse a query parameter the API does not have, or one given twice: a typo such as
    `agencies=` must not silently widen what the call sees."""
    for key in dict.fromkeys(request.query_params.keys()):
        if key not in allowed or len(request.query_params.getlist(key)) > 1:
            field = _param(key, "query", 80, "tên tham số", required=False) or "query"
            raise BodyRefused(422, "invalid_parameter",
                              f"không có tham số {field} (hoặc tham số bị lặp)", field)


def _scope(caller: api_tokens.Caller, agency: str | None, field: str) -> str | None:
    """The agency this call acts for: the token's own, or any for an all-agency token."""
    if caller.all_agencies:
        return agency
    if agency is not None and agency != caller.agency_code:
        raise BodyRefused(403, "forbidden_agency",
                          f"mã truy cập này chỉ dùng cho đơn vị {caller.agency_code}", field)
    return caller.agency_code


def _unauthorized(reason: str) -> JSONResponse:
    return JSONResponse({"error": "unauthorized", "field": "Authorization", "reason": reason},
                        401, headers={"WWW-Authenticate": "Bearer"})


def token_required(handler: Handler) -> Handler:
    """Check the bearer token, then run the handler; a BodyRefused becomes its answer."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        rt = request.app.state.runtime
        sent = request.headers.getlist("authorization")
        scheme, _, token = (sent[0] if len(sent) == 1 else "").partition(" ")
        if scheme.lower() != "bearer":
            return _unauthorized("thiếu mã truy cập (bearer token) hoặc mã không đúng")

        # a write: the token's last use is recorded
        found = await writing(rt, api_tokens.authenticate, token.strip())
        if isinstance(found, api_tokens.Refused):
            return _unauthorized(found.reason)
        request.state.caller = found
        try:
            return await handler(request)
        except BodyRefused as err:
            return JSONResponse(err.as_dict(), err.status)

    return wrapper


def _results(outcomes: list[service.DeskOutcome]) -> dict[str, Any]:
    return PickupResults.model_validate(
        {"results": [o.as_dict() for o in outcomes]}).model_dump(mode="json")


@token_required
async def request_pickups(request: Request) -> Response:
    caller: api_tokens.Caller = request.state.caller
    _only_query(request)
    body: PickupRequest = _validated(PickupRequest, await read_json_object(request))
    agency = _scope(caller, body.agencyCode, "agencyCode")
    outcomes = await run_in_threadpool(
        service.request_pickups, request.app.state.runtime, body.dossierCodes,
        actor=caller.actor, agency_code=agency)
    return JSONResponse(_results(outcomes))


@token_required
async def cancel_pickup(request: Request) -> Response:
    caller: api_tokens.Caller = request.state.caller
    _only_query(request)
    code = _param(request.path_params["code"], "code", MAX_CODE_CHARS, "mã hồ sơ",
                  required=True)
    body: CancelRequest = _validated(CancelRequest,
                                     await read_json_object(request, required=False))
    agency = _scope(caller, body.agencyCode, "agencyCode")
    outcome = await run_in_threadpool(service.cancel, request.app.state.runtime, code,
                                      actor=caller.actor, agency_code=agency)
    return JSONResponse(_results([outcome])["results"][0],
                        409 if outcome.outcome == DeskOutcomeKind.REFUSED else 200)


@token_required
async def pending(request: Request) -> Response:
    caller: api_tokens.Caller = request.state.caller
    rt = request.app.state.runtime
    _only_query(request, "agency")
    asked = _param(request.query_params.get("agency"), "agency", MAX_AGENCY_CHARS,
                   "mã đơn vị", required=False) or None
    agency = _scope(caller, asked, "agency")

    def load(s: Session) -> dict[str, Any]:
        waiting = service.waiting_list(s, agency)
        return PendingList(items=[PendingItem(
            dossierCode=w.dossier_code, direction=w.direction,  # type: ignore[arg-type]
            procedureName=w.procedure_name, citizenName=mask_name(w.citizen_name),
            phoneMasked=w.phone_masked, place=w.place, readyAt=w.ready_at,
            waitedSeconds=w.waited_seconds,
        ) for w in waiting.items], total=waiting.total,
            truncated=waiting.truncated).model_dump(mode="json")

    return JSONResponse(await reading(rt, load))


class _AnyText(PathConvertor):
    """Like `path`, and a newline too: Starlette's `.*` stops at one, which made a code
    holding %0A a 404 instead of the refusal that names the field."""

    regex = r"[\s\S]*"


register_url_convertor("anytext", _AnyText())

routes = [
    Route("/api/v1/pickups", request_pickups, methods=["POST"]),
    Route("/api/v1/pickups/pending", pending, methods=["GET"]),
    # a dossier code may hold a slash or anything else: it is checked like any code, never 404
    Route("/api/v1/pickups/{code:anytext}/cancel", cancel_pickup, methods=["POST"]),
]
