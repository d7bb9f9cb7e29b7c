"""What an agency's description may hold, checked field by field (the CLI, the ops page
and `handoff agency import` all go through `clean_spec`). Pure: no database, no I/O.

A bad field raises InvalidInput naming the field and the reason; a credential's value is
never put in an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from worker.domain.enums import DispatchMode
from worker.domain.errors import InvalidInput
from worker.domain.routes import DEFAULT_ROUTE, route_spec
from worker.domain.sla_rules import Limits
from worker.domain.text import clean_text
from worker.domain.validation import check_unit_codes, normalize_phone

SLA_FIELDS = tuple(Limits.__dataclass_fields__)
CREDENTIAL_FIELDS = ("customer_key", "secret_key", "push_secret")
# field -> (longest text, required when adding)
_TEXT = {"code": (40, True), "name": (200, True), "email": (200, False),
         "address": (400, True), "customer_code": (40, False)}
_CREDENTIAL_MAX = 500
PUSH_SECRET_MIN = 16  # it alone guards the push hook: no short, guessable secrets
MAX_QUOTA = 10_000.0
FIELDS = ("code", "name", "tel", "email", "address", "province_code", "ward_code",
          "dispatch", "route", "customer_code", *CREDENTIAL_FIELDS, "quota_per_second",
          "sla", "enabled")


def clean_spec(raw: Mapping[str, Any], *, adding: bool) -> dict[str, Any]:
    """The fields of `raw` that are set, cleaned. `adding`: every required field must be
    there (an update gives only what changes). Unknown fields are refused (a typo must not
    be silently ignored)."""
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"trường không có: {', '.join(unknown)[:200]}", field=unknown[0],
                           code="agency.unknown_field")
    out: dict[str, Any] = {}
    for name, (max_len, required) in _TEXT.items():
        if name in raw or (adding and required):
            value = clean_text(raw.get(name), name, max_len=max_len,
                               required=required or name == "code")
            out[name] = value.strip() if value else value
    if "tel" in raw or adding:
        out["tel"] = normalize_phone(raw.get("tel"), field="tel")
    if {"province_code", "ward_code"} & set(raw) or adding:
        if "province_code" not in raw or "ward_code" not in raw:
            raise InvalidInput("cần cả mã tỉnh và mã xã/phường (GSO)", field="ward_code",
                               code="agency.unit_pair")
        province, ward = check_unit_codes(raw["province_code"], raw["ward_code"], "agency")
        out["province_code"], out["ward_code"] = province, ward
    if "dispatch" in raw or adding:
        out["dispatch"] = _choice(raw.get("dispatch", DispatchMode.AUTO), DispatchMode,
                                  "dispatch")
    if "route" in raw or adding:
        out["route"] = route_spec(raw.get("route", DEFAULT_ROUTE)).route
    for name in CREDENTIAL_FIELDS:
        if name in raw and raw[name] is not None:
            out[name] = _credential(raw[name], name)
    if "quota_per_second" in raw and raw["quota_per_second"] is not None:
        out["quota_per_second"] = _number(raw["quota_per_second"], "quota_per_second",
                                          MAX_QUOTA)
    if "sla" in raw and raw["sla"] is not None:
        out["sla"] = _sla(raw["sla"])
    if "enabled" in raw:
        if not isinstance(raw["enabled"], bool):
            raise InvalidInput("phải là true hoặc false", field="enabled", code="agency.type")
        out["enabled"] = raw["enabled"]
    return out


def check_account(spec: Mapping[str, Any]) -> None:
    """An agency's account is whole or absent: a customer code with its key and secret;
    a route whose spec says `own_account` (B, LGSP) always needs one of its own (the
    default account is on DEFAULT_ROUTE)."""
    has_code = bool(spec.get("customer_code"))
    has_creds = bool(spec.get("customer_key")) and bool(spec.get("secret_key"))
    if has_code and not has_creds:
        raise InvalidInput("có mã khách hàng thì phải có khóa khách hàng và mật khẩu "
                           "(customer_key, secret_key)", field="secret_key",
                           code="agency.account_incomplete")
    if has_creds and not has_code:
        raise InvalidInput("có khóa tài khoản thì phải có mã khách hàng (customer_code)",
                           field="customer_code", code="agency.account_incomplete")
    route = route_spec(spec.get("route") or DEFAULT_ROUTE)
    if route.own_account and not has_code:
        raise InvalidInput(f"tuyến {route.letter} ({route.route.value.upper()}) cần tài "
                           "khoản riêng: customer_code, customer_key, secret_key",
                           field="route", code="agency.lgsp_needs_account")


def _choice(value: object, enum: type[DispatchMode], field: str) -> str:
    allowed = [m.value for m in enum]
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise InvalidInput(f"chỉ nhận: {', '.join(allowed)}", field=field, code="agency.choice")


def _credential(value: object, field: str) -> str:
    """A credential: text, no control characters, no spaces around. The value never
    appears in the error."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("phải là chuỗi không rỗng", field=field, code="agency.credential")
    if len(value) > _CREDENTIAL_MAX or any(ord(c) < 32 or ord(c) == 127 for c in value) or (
            value != value.strip()):
        raise InvalidInput("có ký tự điều khiển, khoảng trắng ở đầu/cuối, hoặc dài quá "
                           f"{_CREDENTIAL_MAX} ký tự", field=field, code="agency.credential")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("có ký tự không hợp lệ", field=field,
                           code="agency.credential") from None
    if field == "push_secret" and len(value) < PUSH_SECRET_MIN:
        raise InvalidInput(f"ngắn quá: cần ít nhất {PUSH_SECRET_MIN} ký tự", field=field,
                           code="agency.credential")
    return value


def _number(value: object, field: str, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput("phải là một số", field=field, code="agency.number")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput("phải là một số", field=field, code="agency.number") from None
    if not math.isfinite(number) or not 0 < number <= maximum:
        raise InvalidInput(f"phải lớn hơn 0 và không quá {maximum:g}", field=field,
                           code="agency.number")
    return number


def _sla(value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise InvalidInput("phải là một object {tên: số}", field="sla", code="agency.type")
    out = {}
    for key, number in value.items():
        if key not in SLA_FIELDS:
            raise InvalidInput(f"không có giới hạn '{str(key)[:40]}'; chỉ: "
                               f"{', '.join(SLA_FIELDS)}", field="sla", code="agency.sla")
        out[key] = _number(number, f"sla.{key}", 10_000)
    return out
