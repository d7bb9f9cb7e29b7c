"""One-stop wire <-> domain translation: paths, items, push bodies (no I/O).

HTTP reply classification lives in integrations/onestop/replies.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

from worker.domain.addresses import resolve_units
from worker.domain.errors import InvalidInput, PermanentError
from worker.domain.model import Address, Contact, HandoffItem, HandoffKind, OnestopPage, StatusPush
from worker.domain.validation import check_dossier_code, normalize_phone

# --- wire paths and limits (contract sections 1 to 3) ---------------------------------------
FEED_PATH = "/api/v1/postal-handoffs"
DOSSIER_PATH = "/api/v1/dossiers/{code}"
PUSH_PATH = "/api/v1/dossiers/{code}/postal-events"
MAX_PAGE_SIZE = 500
# Longest accepted value per wire field: the database columns (worker/db/models.py). A longer
# value is refused here, naming the field, instead of failing the whole transaction later.
MAX_LEN = {
    "id": 80,
    "dossierCode": 80,
    "agency.code": 40,
    "agency.name": 200,
    "procedure.code": 40,
    "procedure.name": 300,
    "citizen.name": 200,
    "citizen.email": 200,
    "citizen.address": 400,
}
VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

KINDS = frozenset(
    {HandoffKind.RESULT_READY, HandoffKind.PICKUP_REQUESTED, HandoffKind.HANDOFF_CANCELLED}
)


# --- small helpers ----------------------------------------------------------------------------
def _short(value: object, n: int = 40) -> str:
    return str(value)[:n]


def _obj(raw: Mapping, key: str, field: str, *, reason: str) -> Mapping:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise InvalidInput(reason, field=field)
    return value


def _fits(value: str, field: str) -> str:
    """The value when it fits its column (MAX_LEN), else InvalidInput saying how long it may be."""
    limit = MAX_LEN.get(field)
    if limit is not None and len(value) > limit:
        raise InvalidInput(
            f"dài {len(value)} ký tự, chỉ được tối đa {limit} ký tự", field=field
        )
    return value


def _text(raw: Mapping, key: str, field: str, *, reason: str, required: bool = True) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(reason, field=field)
    return _fits(value.strip(), field)


def _unit_code(value: object, field: str, what: str) -> str | int:
    """A GSO code may come as "82" or 82; anything else is refused before the lookup."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(f"thiếu mã {what}", field=field)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(f"mã {what} phải là chuỗi số hoặc số nguyên", field=field)
    return value.strip() if isinstance(value, str) else value


def parse_time(value: object, field: str) -> datetime:
    """ISO 8601 with an explicit offset; a naive time is ambiguous and refused."""
    reason = "thời điểm phải theo ISO 8601 có múi giờ, ví dụ 2026-11-26T09:15:00+07:00"
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(reason, field=field)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(reason, field=field) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput("thời điểm thiếu múi giờ (cần dạng +07:00)", field=field)
    return parsed


def _cod_amount(value: object) -> int:
    if value is None:
        return 0  # absent = nothing to collect
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("số tiền thu hộ phải là số nguyên không âm (đồng)", field="codAmount")
    return value


def _citizen(raw: Mapping) -> Contact:
    c = _obj(raw, "citizen", "citizen",
             reason="thiếu thông tin công dân (họ tên, điện thoại, địa chỉ)")
    name = _text(c, "name", "citizen.name", reason="thiếu họ tên công dân")
    phone = normalize_phone(c.get("phone"), field="citizen.phone")
    street = _text(c, "address", "citizen.address", reason="thiếu địa chỉ của công dân")
    province = _unit_code(c.get("provinceCode"), "citizen.provinceCode", "tỉnh/thành")
    ward = _unit_code(c.get("wardCode"), "citizen.wardCode", "xã/phường")
    # A legacy address (with districtCode or an old province code) is converted to the
    # current units, or rejected with the reason (worker/domain/addresses.py).
    units = resolve_units(province, ward, c.get("districtCode"), field="citizen")
    email = c.get("email")
    if email is not None and not isinstance(email, str):
        raise InvalidInput("thư điện tử phải là chuỗi ký tự", field="citizen.email")
    return Contact(
        name=name,
        phone=phone,
        address=Address(street=street, province_code=units.province_code,
                        ward_code=units.ward_code, converted_from=units.converted_from),
        email=(_fits(email.strip(), "citizen.email") or None) if email else None,
    )


# --- feed items -------------------------------------------------------------------------------
def parse_item(raw: object) -> HandoffItem:
    """Validate one feed or webhook item; InvalidInput names the wire field and the reason."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("mục bàn giao không phải là một đối tượng JSON", field="item")
    item_id = _text(raw, "id", "id", reason="thiếu mã định danh (id) của mục bàn giao")
    kind = raw.get("type")
    if kind not in KINDS:
        raise InvalidInput(
            f"loại yêu cầu '{_short(kind, 30)}' không được hỗ trợ "
            "(chỉ nhận result_ready, pickup_requested, handoff_cancelled)",
            field="type",
        )
    dossier_raw = raw.get("dossierCode")
    if isinstance(dossier_raw, str):
        _fits(dossier_raw.strip(), "dossierCode")
    dossier_code = check_dossier_code(dossier_raw, field="dossierCode")
    agency = _obj(raw, "agency", "agency", reason="thiếu thông tin cơ quan giải quyết")
    agency_code = _text(agency, "code", "agency.code", reason="thiếu mã cơ quan giải quyết")
    agency_name = _text(agency, "name", "agency.name", reason="tên cơ quan phải là chuỗi ký tự",
                        required=False)
    cancelled = kind == HandoffKind.HANDOFF_CANCELLED
    procedure = raw.get("procedure")
    if procedure is None and cancelled:
        procedure = {"code": "", "name": ""}
    if not isinstance(procedure, Mapping):
        raise InvalidInput("thiếu thông tin thủ tục hành chính", field="procedure")
    procedure_code = _text(procedure, "code", "procedure.code", reason="thiếu mã thủ tục",
                           required=not cancelled)
    procedure_name = _text(procedure, "name", "procedure.name",
                           reason="tên thủ tục phải là chuỗi ký tự", required=False)
    citizen = None if cancelled else _citizen(raw)
    cod_amount = _cod_amount(raw.get("codAmount"))
    created_at = parse_time(raw.get("createdAt"), "createdAt")
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidInput("ghi chú phải là chuỗi ký tự", field="note")
    return HandoffItem(
        item_id=item_id,
        kind=str(kind),
        dossier_code=dossier_code,
        agency_code=agency_code,
        agency_name=agency_name,
        procedure_code=procedure_code,
        procedure_name=procedure_name,
        citizen=citizen,
        cod_amount=cod_amount,
        created_at=created_at,
        note=note or "",
    )


def item_id_of(raw: object) -> str | None:
    """Best effort: the item's id even when the item is invalid (to record a receipt).

    None when there is no usable id: absent, blank, or longer than MAX_LEN["id"] (such an
    id cannot be stored, so it cannot be deduplicated either).
    """
    if not isinstance(raw, Mapping):
        return None
    value = raw.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and 0 < len(value.strip()) <= MAX_LEN["id"]:
        return value.strip()
    return None


def dossier_code_of(raw: object) -> str | None:
    """Best effort: the dossier code as sent, stripped, even when it is malformed."""
    if not isinstance(raw, Mapping):
        return None
    value = raw.get("dossierCode")
    if isinstance(value, str) and value.strip():
        return value.strip()[:64]
    return None


def feed_params(after: str | None, limit: int) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": max(1, min(int(limit), MAX_PAGE_SIZE))}
    if after:
        params["after"] = after
    return params


def parse_page(body: object) -> OnestopPage:
    """A feed page; items stay raw (each is validated on its own by parse_item)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
        raise PermanentError("trang dữ liệu của hệ thống một cửa không đúng định dạng",
                             field="items")
    nxt = body.get("next")
    extra = {k: v for k, v in body.items() if k not in ("items", "next")}
    return OnestopPage(
        items=list(body["items"]),
        next_cursor=nxt if isinstance(nxt, str) and nxt else None,
        extra=extra,
    )


# --- dossier lookup and status push-back ------------------------------------------------------
def dossier_path(dossier_code: str) -> str:
    return DOSSIER_PATH.format(code=quote(dossier_code, safe=""))


def push_path(dossier_code: str) -> str:
    return PUSH_PATH.format(code=quote(dossier_code, safe=""))


def to_vn_iso(moment: datetime) -> str:
    """ISO 8601 in +07:00; a naive datetime is taken as UTC (the domain's convention)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VN_TZ).isoformat(timespec="seconds")


def push_body(push: StatusPush) -> dict:
    """The JSON of contract section 3."""
    return {
        "eventId": push.event_id,
        "direction": str(push.direction),
        "status": str(push.status),
        "itemCode": push.item_code,
        "carrierCode": push.carrier_code,
        "carrierText": push.carrier_text,
        "occurredAt": to_vn_iso(push.occurred_at),
        "note": push.note,
    }
