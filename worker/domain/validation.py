"""Validation of citizen data: phone numbers and current (post-July-2025) administrative units."""

from __future__ import annotations

import re

from vietnam_provinces import Province, Ward

from worker.domain.errors import InvalidInput

# Dossier codes look like "000.00.17.H19-201126-0001": agency code, date, sequence.
DOSSIER_CODE_RE = re.compile(r"^[0-9A-Z][0-9A-Z.]{2,30}-\d{6}-\d{4,6}$")

# Mobile: 0 + 9 digits starting 3,5,7,8,9. Landline: 0 + 2x area code + 8 digits (10/11 digits).
_MOBILE_RE = re.compile(r"^0[35789]\d{8}$")
_LANDLINE_RE = re.compile(r"^02\d{9}$")


def normalize_phone(raw: object, field: str = "citizen.phone") -> str:
    """Return the phone as '0XXXXXXXXX'. Accepts +84/84 prefixes, spaces, dots and dashes."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InvalidInput("thiếu số điện thoại; đề nghị bổ sung số điện thoại của công dân",
                           field=field, code="phone.missing")
    if not isinstance(raw, str):
        raise InvalidInput("số điện thoại phải là chuỗi ký tự", field=field, code="phone.type")
    digits = re.sub(r"[\s.\-()]", "", raw)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if _MOBILE_RE.match(digits) or _LANDLINE_RE.match(digits):
        return digits
    raise InvalidInput(
        "số điện thoại không đúng định dạng Việt Nam (di động 10 số bắt đầu bằng 03, 05, 07, "
        "08, 09 hoặc số cố định 11 số bắt đầu bằng 02)",
        field=field, code="phone.format",
    )


def check_dossier_code(raw: object, field: str = "dossierCode") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("thiếu mã hồ sơ", field=field, code="dossier_code.missing")
    code = raw.strip()
    if not DOSSIER_CODE_RE.match(code):
        raise InvalidInput(f"mã hồ sơ '{code[:40]}' không đúng định dạng", field=field,
                           code="dossier_code.format")
    return code


def check_unit_codes(province: object, ward: object, field: str = "citizen") -> tuple[str, str]:
    """Check GSO province and ward codes against the units in force since 1 July 2025."""
    try:
        p = int(str(province))
        Province.from_code(p)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(
            f"mã tỉnh/thành '{province}' không thuộc danh mục 34 tỉnh, thành phố hiện hành",
            field=f"{field}.provinceCode", code="unit.unknown_province",
        ) from None
    try:
        w = Ward.from_code(int(str(ward)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(
            f"mã xã/phường '{ward}' không có trong danh mục đơn vị hành chính hiện hành",
            field=f"{field}.wardCode", code="unit.unknown_ward",
        ) from None
    if int(w.province_code) != p:
        raise InvalidInput(
            f"xã/phường '{w.name}' không thuộc tỉnh/thành có mã {p}",
            field=f"{field}.wardCode", code="unit.ward_not_in_province",
        )
    return str(p), str(int(w.code))


def ward_name(ward_code: str) -> str:
    return Ward.from_code(int(ward_code)).name  # type: ignore[arg-type]


def province_name(province_code: str) -> str:
    return Province.from_code(int(province_code)).name  # type: ignore[arg-type]
