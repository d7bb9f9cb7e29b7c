"""The one-stop hand-off item as it comes on the wire (feed or webhook), validated once.

Pydantic models of contract section 1. Every field goes through the project's own rules
(worker/domain/text.py, validation.py, addresses.py), so a refusal is always an
InvalidInput naming the wire field (`citizen.phone`), with a Vietnamese reason and a
machine code, and nothing else is ever raised for any JSON value. The models also give the
JSON schema that /openapi.json publishes for the webhook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from worker.domain.addresses import resolve_units
from worker.domain.errors import InvalidInput
from worker.domain.model import Address, Contact, HandoffItem, HandoffKind
from worker.domain.text import check_amount, check_moment, clean_text, safe_display
from worker.domain.validation import check_dossier_code, normalize_phone

# Longest accepted value per wire field: the database columns (worker/db/models/).
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
    "citizen.unit": 8,
    "createdAt": 40,
    "note": 2000,
}
KINDS = (HandoffKind.RESULT_READY, HandoffKind.PICKUP_REQUESTED, HandoffKind.HANDOFF_CANCELLED)


def _text(field: str, what: str, *, required: bool = False, multiline: bool = False
          ) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return clean_text(value, field, max_len=MAX_LEN[field], required=required,
                          multiline=multiline, what=what)
    return check


def _object(field: str, reason: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise InvalidInput(reason, field=field, code="object.missing")
        return dict(value)
    return check


def _unit_code(field: str, what: str, *, required: bool = True) -> Callable[[Any], str]:
    """A GSO code may come as "82" or 82; anything else is refused before the lookup."""
    def check(value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            if not required:
                return ""
            raise InvalidInput(f"thiếu mã {what}", field=field, code="unit.missing")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidInput(f"mã {what} phải là chuỗi số hoặc số nguyên", field=field,
                               code="unit.type")
        text = clean_text(str(value), field, max_len=MAX_LEN["citizen.unit"], what=f"mã {what}")
        if not text.isdigit() or not text.isascii():
            raise InvalidInput(f"mã {what} '{text}' phải gồm các chữ số", field=field,
                               code="unit.format")
        return text
    return check


def checked_item_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # the feed and webhook may send integer ids
    return clean_text(value, "id", max_len=MAX_LEN["id"], required=True,
                      what="mã định danh (id) của mục bàn giao")


def _kind(value: Any) -> str:
    if value not in KINDS:
        raise InvalidInput(
            f"loại yêu cầu '{safe_display(value, 30)}' không được hỗ trợ "
            "(chỉ nhận result_ready, pickup_requested, handoff_cancelled)",
            field="type", code="type.unsupported")
    return str(value)


def _dossier_code(value: Any) -> str:
    text = clean_text(value, "dossierCode", max_len=MAX_LEN["dossierCode"], required=True,
                      what="mã hồ sơ")
    return check_dossier_code(text, field="dossierCode")


def _created_at(value: Any) -> datetime:
    """ISO 8601 with an explicit offset, within the sane window (worker/domain/text.py)."""
    text = clean_text(value, "createdAt", max_len=MAX_LEN["createdAt"], required=True,
                      what="thời điểm")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("thời điểm phải theo ISO 8601 có múi giờ, ví dụ "
                           "2026-11-26T09:15:00+07:00", field="createdAt",
                           code="date.format") from None
    check_moment(parsed, "createdAt")
    return parsed


def _phone(value: Any) -> str:
    if isinstance(value, str):
        clean_text(value, "citizen.phone", max_len=40, what="số điện thoại")
    return normalize_phone(value, field="citizen.phone")


def _email(value: Any) -> str | None:
    text = clean_text(value, "citizen.email", max_len=MAX_LEN["citizen.email"],
                      what="thư điện tử")
    if text and ("@" not in text or any(c.isspace() for c in text)):
        raise InvalidInput("thư điện tử không đúng định dạng", field="citizen.email",
                           code="email.format")
    return text or None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)


class AgencyIn(_Wire):
    code: Annotated[str, BeforeValidator(_text("agency.code", "mã cơ quan giải quyết",
                                               required=True)),
                    Field(max_length=40)] = ""
    name: Annotated[str, BeforeValidator(_text("agency.name", "tên cơ quan")),
                    Field(max_length=200)] = ""


class ProcedureIn(_Wire):
    code: Annotated[str, BeforeValidator(_text("procedure.code", "mã thủ tục", required=True)),
                    Field(max_length=40)] = ""
    name: Annotated[str, BeforeValidator(_text("procedure.name", "tên thủ tục")),
                    Field(max_length=300)] = ""


class CitizenIn(_Wire):
    name: Annotated[str, BeforeValidator(_text("citizen.name", "họ tên công dân",
                                               required=True)),
                    Field(max_length=200)] = ""
    phone: Annotated[str, BeforeValidator(_phone),
                     Field(description="0XXXXXXXXX, +84…, with spaces, dots or dashes")] = ""
    email: Annotated[str | None, BeforeValidator(_email),
                     Field(description="at most 200 characters")] = None
    address: Annotated[str, BeforeValidator(_text("citizen.address", "địa chỉ của công dân",
                                                  required=True)),
                       Field(max_length=400)] = ""
    provinceCode: Annotated[str, BeforeValidator(  # noqa: N815 (wire name)
        _unit_code("citizen.provinceCode", "tỉnh/thành"))] = ""
    wardCode: Annotated[str, BeforeValidator(  # noqa: N815 (wire name)
        _unit_code("citizen.wardCode", "xã/phường"))] = ""
    districtCode: Annotated[str, BeforeValidator(  # noqa: N815 (wire name; legacy addresses)
        _unit_code("citizen.districtCode", "quận/huyện (cũ)", required=False))] = ""

    def contact(self) -> Contact:
        # A legacy address (with districtCode or an old province code) is converted to the
        # current units, or rejected with the reason (worker/domain/addresses.py).
        units = resolve_units(self.provinceCode, self.wardCode, self.districtCode or None,
                              field="citizen")
        return Contact(name=self.name, phone=self.phone, email=self.email,
                       address=Address(street=self.address, province_code=units.province_code,
                                       ward_code=units.ward_code,
                                       converted_from=units.converted_from))


class HandoffItemIn(_Wire):
    """One item of the hand-off feed, or the body of POST /hooks/onestop."""

    id: Annotated[str, BeforeValidator(checked_item_id), Field(max_length=80)] = ""
    type: Annotated[Literal["result_ready", "pickup_requested", "handoff_cancelled"],
                    BeforeValidator(_kind)] = None  # type: ignore[assignment]  # required
    dossierCode: Annotated[str, BeforeValidator(_dossier_code),  # noqa: N815 (wire name)
                           Field(max_length=80, examples=["000.00.17.H19-201126-0001"])] = ""
    agency: Annotated[AgencyIn, BeforeValidator(
        _object("agency", "thiếu thông tin cơ quan giải quyết"))] = None  # type: ignore[assignment]
    procedure: Annotated[ProcedureIn | None, BeforeValidator(
        _object("procedure", "thiếu thông tin thủ tục hành chính"))] = None
    # not validated when absent: a withdrawal has none (to_domain asks for it otherwise)
    citizen: Annotated[CitizenIn | None, BeforeValidator(
        _object("citizen", "thiếu thông tin công dân (họ tên, điện thoại, địa chỉ)")),
        Field(validate_default=False)] = None
    codAmount: Annotated[int, BeforeValidator(  # noqa: N815 (wire name)
        lambda v: check_amount(v, "codAmount")), Field(ge=0, le=1_000_000_000)] = 0
    createdAt: Annotated[datetime, BeforeValidator(_created_at)] = None  # type: ignore[assignment]  # noqa: N815
    note: Annotated[str, BeforeValidator(_text("note", "ghi chú", multiline=True)),
                    Field(max_length=2000)] = ""

    @model_validator(mode="before")
    @classmethod
    def _withdrawal_needs_less(cls, raw: Any) -> Any:
        """A withdrawal names the dossier only: its citizen and procedure are not read."""
        if isinstance(raw, Mapping) and raw.get("type") == HandoffKind.HANDOFF_CANCELLED:
            raw = {k: v for k, v in raw.items() if k not in ("citizen", "procedure")}
            raw["procedure"] = {"code": "-", "name": ""}
        return raw

    def to_domain(self) -> HandoffItem:
        cancelled = self.type == HandoffKind.HANDOFF_CANCELLED
        procedure = self.procedure or ProcedureIn(code="-")
        return HandoffItem(
            item_id=self.id, kind=self.type, dossier_code=self.dossierCode,
            agency_code=self.agency.code, agency_name=self.agency.name,
            procedure_code="" if cancelled else procedure.code,
            procedure_name=procedure.name,
            citizen=None if cancelled else self._citizen().contact(),
            cod_amount=self.codAmount, created_at=self.createdAt, note=self.note,
        )

    def _citizen(self) -> CitizenIn:
        if self.citizen is None:
            raise InvalidInput("thiếu thông tin công dân (họ tên, điện thoại, địa chỉ)",
                               field="citizen", code="object.missing")
        return self.citizen


def parse_item(raw: object) -> HandoffItem:
    """Validate one feed or webhook item; only InvalidInput is ever raised."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("mục bàn giao không phải là một đối tượng JSON", field="item",
                           code="object.missing")
    try:
        return HandoffItemIn.model_validate(dict(raw)).to_domain()
    except InvalidInput:
        raise
    except Exception as err:  # a pydantic type error our validators did not foresee
        raise InvalidInput(f"mục bàn giao không hợp lệ ({type(err).__name__})", field="item",
                           code="item.invalid") from None
