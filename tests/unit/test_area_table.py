"""The area table's rules on text (no database): a good table passes, and every refusal
names the line and the reason; what an import changes, told ward by ward."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.domain import area_table
from worker.domain.area_table import COLUMNS, check, current_wards

SEED = Path(area_table.__file__).resolve().parents[1] / "db" / "seed" / "area_codes.csv"
HEADER = ",".join(COLUMNS)


@pytest.fixture(scope="module")
def placeholder_text() -> str:
    return SEED.read_text(encoding="utf-8")


def edited(text: str, line: int, new: str | None) -> str:
    """`text` with its line number `line` (1-based) replaced by `new`, or removed (None)."""
    lines = text.splitlines()
    if new is None:
        del lines[line - 1]
    else:
        lines[line - 1] = new
    return "\n".join(lines) + "\n"


def line_of(text: str, prefix: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def reasons(text: str) -> list[str]:
    return [str(p) for p in check(text, current_wards()).problems]


def test_the_shipped_placeholders_pass_and_are_the_derived_rule(placeholder_text) -> None:
    checked = check(placeholder_text, current_wards())
    assert checked.problems == [] and len(checked.areas) == len(current_wards()) == 3321
    assert checked.areas == area_table.placeholder_table(current_wards())
    assert checked.areas[(82, 30226)] == (82, 82098)


def test_a_bom_blank_lines_and_an_identical_repeat_are_accepted(placeholder_text) -> None:
    text = "\ufeff" + placeholder_text.replace("1,70,1,1004\n", "1,70,1,1004\n\n1,70,1,1004\n")
    checked = check(text, current_wards())
    assert checked.problems == [] and checked.repeated == 1


def test_a_missing_ward_is_refused_naming_it_and_its_province(placeholder_text) -> None:
    text = edited(placeholder_text, line_of(placeholder_text, "1,70,"), None)
    assert reasons(text) == ["thiếu 1 xã/phường của Thành phố Hà Nội (mã 1): "
                             "70 Phường Hoàn Kiếm"]


@pytest.mark.parametrize(("row", "why"), [
    ("1,70,1,x1004", "carrier_district 'x1004' không phải số nguyên dương"),
    ("1,70,0,1004", "carrier_province '0' không phải số nguyên dương"),
    ("1,70,-1,1004", "carrier_province '-1' không phải số nguyên dương"),
    ("1,70,1,1004.5", "carrier_district '1004.5' không phải số nguyên dương"),
    ("1,70,1,12345678901", "carrier_district '12345678901' không phải số nguyên dương"),
    ("1,70,1", "có 3 cột, cần 4"),
    ("1,70,1,1004,9", "có 5 cột, cần 4"),
])
def test_a_malformed_line_is_refused_naming_the_line(placeholder_text, row, why) -> None:
    n = line_of(placeholder_text, "1,70,")
    found = reasons(edited(placeholder_text, n, row))
    assert len(found) == 1 and found[0].startswith(f"dòng {n}: {why}"), found


def test_a_ward_of_another_province_is_refused(placeholder_text) -> None:
    n = line_of(placeholder_text, "1,70,")
    assert reasons(edited(placeholder_text, n, "82,70,1,1004")) == [
        f"dòng {n}: xã/phường mã 70 (Phường Hoàn Kiếm) thuộc tỉnh mã 1 (Thành phố Hà Nội), "
        "không phải tỉnh mã 82"]


def test_a_ward_not_in_force_is_refused(placeholder_text) -> None:
    text = placeholder_text + "82,99999,82,99999\n"
    n = len(placeholder_text.splitlines()) + 1
    assert reasons(text) == [f"dòng {n}: xã/phường mã 99999 không có trong danh mục "
                             "xã/phường hiện hành (từ 1/7/2025)"]


def test_one_ward_given_two_areas_is_refused_naming_both_lines(placeholder_text) -> None:
    first = line_of(placeholder_text, "1,70,")
    text = placeholder_text + "1,70,1,999001\n"
    n = len(placeholder_text.splitlines()) + 1
    assert reasons(text) == [f"dòng {n}: xã/phường mã 70 đã có ở dòng {first} với mã vùng "
                             "1/1004, dòng này ghi 1/999001"]


def test_one_carrier_district_in_two_carrier_provinces_is_refused(placeholder_text) -> None:
    # Hoàn Kiếm put in carrier district 82098, which Xã Lai Vung holds in carrier province 82
    n = line_of(placeholder_text, "1,70,")
    holder = line_of(placeholder_text, "82,30226,")
    assert reasons(edited(placeholder_text, n, "1,70,1,82098")) == [
        f"dòng {holder}: mã quận/huyện của bưu điện 82098 thuộc mã tỉnh 1 ở dòng {n}, "
        "dòng này ghi mã tỉnh 82"]


def test_wards_sharing_a_carrier_district_of_one_province_are_fine(placeholder_text) -> None:
    n = line_of(placeholder_text, "1,70,")
    assert reasons(edited(placeholder_text, n, "1,70,1,1003")) == []


@pytest.mark.parametrize("text", ["", "\n\n", "gso_province,gso_ward,carrier_province\n1,70,1\n",
                                  "province,ward,cp,cd\n1,70,1,1004\n"])
def test_a_file_without_the_header_is_refused(text) -> None:
    found = reasons(text)
    assert len(found) == 1 and HEADER in found[0]


def test_every_problem_is_told_at_once(placeholder_text) -> None:
    text = edited(placeholder_text, line_of(placeholder_text, "1,70,"), "1,70,1,abc")
    text = edited(text, line_of(text, "82,30226,"), None)
    found = reasons(text)
    assert found[0].startswith("dòng ") and "abc" in found[0]
    # the ward of the malformed line is not told again as missing; Lai Vung is
    assert found[1:] == ["thiếu 1 xã/phường của Đồng Tháp (mã 82): 30226 Xã Lai Vung"]


def test_changes_are_counted_and_told_by_ward() -> None:
    old = {(1, 70): (1, 1004), (1, 4): (1, 1001), (82, 30226): (82, 82098)}
    new = {(1, 70): (1, 999001), (1, 4): (1, 1001), (1, 8): (1, 1002)}
    c = area_table.changes(old, new)
    assert (len(c.added), len(c.changed), len(c.removed), c.unchanged) == (1, 1, 1, 1)
    assert area_table.sample_lines(c) == [
        "+ Phường Ngọc Hà, Thành phố Hà Nội (1/8): 1/1002",
        "~ Phường Hoàn Kiếm, Thành phố Hà Nội (1/70): 1/1004 → 1/999001",
        "- Xã Lai Vung, Đồng Tháp (82/30226): 82/82098",
    ]


def test_unmapped_wards_are_grouped_by_province() -> None:
    table = dict(area_table.placeholder_table(current_wards()))
    del table[(1, 70)], table[(82, 30226)], table[(1, 4)]
    assert area_table.unmapped(table, current_wards()) == {1: [4, 70], 82: [30226]}
    assert area_table.stale([*table, (82, 99999)], current_wards()) == [(82, 99999)]
