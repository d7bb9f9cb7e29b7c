"""Addresses on real cases: current units, legacy (pre-July-2025) units converted, rejects."""

import pytest

from integrations.onestop import mapping
from worker.domain.addresses import resolve_units
from worker.domain.errors import InvalidInput


def test_current_units_pass_unchanged():
    u = resolve_units("82", "30226")  # Xã Lai Vung, Đồng Tháp (since 1 July 2025)
    assert (u.province_code, u.ward_code, u.converted_from) == ("82", "30226", "")


def test_legacy_ward_with_district_is_converted_even_though_its_code_is_reused():
    # old 30226 was Xã Tân Thành, huyện Lai Vung, tỉnh Đồng Tháp (87); it merged into the
    # new Xã Lai Vung of the new Đồng Tháp (82), whose code happens to be 30226 as well
    u = resolve_units("87", "30226", district="876")
    assert (u.province_code, u.ward_code) == ("82", "30226")
    assert "Xã Tân Thành" in u.converted_from and "Huyện Lai Vung" in u.converted_from


def test_legacy_province_code_without_district_is_converted():
    u = resolve_units(87, 30208)  # Thị trấn Lai Vung, old Đồng Tháp
    assert u.province_code == "82" and u.converted_from.startswith("Thị trấn Lai Vung")


@pytest.mark.parametrize("province,district,ward,new_province", [
    ("79", "760", "26740", "79"),  # Phường Bến Nghé, Quận 1, TP.HCM → Phường Sài Gòn
    ("01", "001", "00004", "1"),  # Phường Trúc Bạch, Quận Ba Đình, Hà Nội
    ("92", "916", "31117", "92"),  # Cần Thơ, Ninh Kiều
])
def test_more_legacy_addresses(province, district, ward, new_province):
    u = resolve_units(province, ward, district=district)
    assert u.province_code == new_province and u.converted_from


def test_unknown_legacy_ward_is_rejected_with_the_reason():
    with pytest.raises(InvalidInput) as e:
        resolve_units("87", "99999", district="876")
    assert e.value.field == "citizen.wardCode"
    assert "đơn vị hành chính cũ" in e.value.reason


def test_unknown_current_ward_and_province_name_their_field():
    with pytest.raises(InvalidInput) as e:
        resolve_units("82", "12")
    assert e.value.field == "citizen.wardCode"
    with pytest.raises(InvalidInput) as e:
        resolve_units("99", "30226")
    assert e.value.field == "citizen.provinceCode"


def _item(**citizen):
    base = {"name": "Nguyễn Thị Hồng", "phone": "+84 912 345 678", "email": None,
            "address": "Số 12, ấp Tân Thạnh", "provinceCode": "82", "wardCode": "30226"}
    base.update(citizen)
    return {"id": "hof_1", "type": "pickup_requested", "dossierCode": "000.00.17.H19-201126-0001",
            "procedure": {"code": "1.004227", "name": "Cấp giấy phép xây dựng"},
            "agency": {"code": "000.00.17.H19", "name": "UBND xã Lai Vung"},
            "citizen": base, "codAmount": 0, "createdAt": "2026-11-26T09:15:00+07:00"}


def test_feed_item_with_a_legacy_address_is_taken_with_current_codes():
    parsed = mapping.parse_item(_item(provinceCode="87", districtCode="876", wardCode="30226"))
    assert parsed.citizen is not None
    addr = parsed.citizen.address
    assert (addr.province_code, addr.ward_code) == ("82", "30226")
    assert "Huyện Lai Vung" in addr.converted_from
    assert parsed.citizen.phone == "0912345678"
    assert addr.street == "Số 12, ấp Tân Thạnh"


@pytest.mark.parametrize("phone", ["0212 345 678", "12345678", "+1 415 555 0100", "091234567"])
def test_feed_item_with_a_non_vietnamese_phone_is_rejected(phone):
    with pytest.raises(InvalidInput) as e:
        mapping.parse_item(_item(phone=phone))
    assert e.value.field == "citizen.phone"


def test_where_the_packages_disagree_on_a_new_ward_code_the_unit_list_wins_by_name():
    # vietnamadminunits converts Phường Tràng Tiền (Hoàn Kiếm) to Phường Cửa Nam with code
    # 00082; vietnam-provinces, which we validate against, has Phường Cửa Nam as 73
    u = resolve_units("01", "00079", district="002")
    assert (u.province_code, u.ward_code) == ("1", "73")
    assert "Phường Tràng Tiền" in u.converted_from


@pytest.mark.parametrize("province,district,ward,new_ward", [
    ("46", "482", "20110", "20152"),  # Thị trấn Lăng Cô → Xã Chân Mây – Lăng Cô (en dash)
    ("79", "764", "26876", "26887"),  # Phường 6, Gò Vấp → "Phường  An Nhơn" (two spaces)
])
def test_names_are_matched_despite_typography(province, district, ward, new_ward):
    assert resolve_units(province, ward, district=district).ward_code == new_ward
