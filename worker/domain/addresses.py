"""Citizen addresses: current units (since 1 July 2025) as they are, legacy ones converted.

A legacy address (63 provinces with districts) is recognised by a `districtCode`, or by a
province code that is not one of the 34 current ones. Its codes are looked up in the
maintained `vietnamadminunits` dataset (old province, district, ward names), converted
with that package's 2025 converter, and the result is checked again against
`vietnam-provinces`. New and old ward codes overlap (old 30226 was Xã Tân Thành, huyện Lai
Vung; new 30226 is Xã Lai Vung), so a code alone never decides which list it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from vietnam_provinces import Province, Ward

from worker.domain.errors import InvalidInput
from worker.domain.validation import check_unit_codes


@dataclass(frozen=True)
class Units:
    province_code: str
    ward_code: str
    converted_from: str = ""  # "Xã Tân Thành, Huyện Lai Vung, Tỉnh Đồng Tháp" when legacy


@cache
def _current_provinces() -> frozenset[int]:
    return frozenset(int(p.code) for p in Province.iter_all())


def resolve_units(province: object, ward: object, district: object = None,
                  field: str = "citizen") -> Units:
    """Current GSO codes for an address given in current or legacy codes."""
    legacy = district not in (None, "") or (
        not _is_current_province(province) and _is_legacy_province(province))
    if not legacy:
        p, w = check_unit_codes(province, ward, field=field)
        return Units(p, w)
    old = _legacy_names(province, district, ward, field)
    new_province, new_ward, new_name = _convert(old, field)
    by_name = _ward_by_name(new_province, new_name)
    # The two maintained packages disagree on some new ward codes (for Phường Cửa Nam, Hà
    # Nội, the converter says 00082, vietnam-provinces 73); the unit list we validate
    # against wins, matched by the new ward's name within its province.
    p, w = check_unit_codes(new_province, by_name or new_ward, field=field)
    return Units(p, w, converted_from=old)


@cache
def _wards_by_name() -> dict[tuple[int, str], int | None]:
    index: dict[tuple[int, str], int | None] = {}
    for ward in Ward.iter_all():
        key = (int(ward.province_code), _name_key(ward.name))
        index[key] = None if key in index else int(ward.code)  # None: ambiguous name
    return index


def _name_key(name: str) -> str:
    """Names differ in typography between the packages ("Chân Mây – Lăng Cô" with an en dash
    against a hyphen, "Phường  An Nhơn" with two spaces): compare them folded."""
    return " ".join(name.replace("\u2013", "-").replace("\u2014", "-").split()).casefold()


def _ward_by_name(province: str, name: str) -> str | None:
    try:
        code = _wards_by_name().get((int(province), _name_key(name)))
    except ValueError:
        return None
    return str(code) if code is not None else None


def _is_current_province(province: object) -> bool:
    try:
        return int(str(province)) in _current_provinces()
    except (TypeError, ValueError):
        return True  # let check_unit_codes name the problem


@cache
def _legacy_provinces() -> frozenset[int]:
    # vietnamadminunits takes ~0.8 s to import: loaded only once a legacy address arrives.
    from vietnamadminunits.database import query

    rows = query("SELECT DISTINCT provinceCode FROM admin_units_legacy")
    return frozenset(int(r["provinceCode"]) for r in rows)


def _is_legacy_province(province: object) -> bool:
    try:
        return int(str(province)) in _legacy_provinces()
    except (TypeError, ValueError):
        return False


def _legacy_names(province: object, district: object, ward: object, field: str) -> str:
    from vietnamadminunits.database import query  # slow to import: see _legacy_provinces

    try:
        p, w = int(str(province)), int(str(ward))
        d = int(str(district)) if district not in (None, "") else None
    except (TypeError, ValueError):
        raise InvalidInput("mã đơn vị hành chính cũ phải là số", field=f"{field}.wardCode",
                           code="unit.legacy_format") from None
    sql = ("SELECT province, district, ward FROM admin_units_legacy "
           f"WHERE CAST(provinceCode AS INTEGER) = {p} AND CAST(wardCode AS INTEGER) = {w}")
    if d is not None:
        sql += f" AND CAST(districtCode AS INTEGER) = {d}"
    rows = query(sql + " LIMIT 1")
    if not rows:
        raise InvalidInput(
            f"không tìm thấy xã/phường mã {w} (tỉnh {p}"
            + (f", huyện {d}" if d is not None else "")
            + ") trong danh mục đơn vị hành chính cũ; đề nghị cập nhật địa chỉ theo đơn vị "
              "hành chính mới (sau 01/7/2025)",
            field=f"{field}.wardCode", code="unit.legacy_unknown",
        )
    r = rows[0]
    return f"{r['ward']}, {r['district']}, {r['province']}"


def _convert(old: str, field: str) -> tuple[str, str, str]:
    from vietnamadminunits import convert_address  # slow to import: see _legacy_provinces

    try:
        unit = convert_address(old)
    except Exception:  # the package raises plain errors for addresses it cannot place
        unit = None
    if unit is None or not unit.province_code or not unit.ward_code:
        raise InvalidInput(
            f"địa chỉ cũ '{old}' chưa chuyển đổi được sang đơn vị hành chính mới; đề nghị "
            "công dân hoặc cán bộ cập nhật địa chỉ mới",
            field=f"{field}.wardCode", code="unit.legacy_unconvertible",
        )
    return str(unit.province_code), str(unit.ward_code), str(unit.ward or "")
