"""worker/domain/json_input.loads: what a sender is told (nothing but "not JSON") and what an
operator's own file is told (`detailed`: where and what), and repeated keys refused on ask."""

from __future__ import annotations

import sys

import pytest

from worker.domain.errors import InvalidInput
from worker.domain.json_input import INVALID, loads


def _refusal(body: bytes | str, **options: bool) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        loads(body, 8, "f", **options)
    assert caught.value.field == "f"
    return caught.value


HUGE = "[" + "9" * (sys.get_int_max_str_digits() + 1) + "]"


@pytest.mark.parametrize(("body", "detail"), [
    ('{"a": 1,\n "b": }', "không phải JSON hợp lệ (dòng 2, cột 7)"),
    ('{"a": NaN}', "NaN không phải giá trị JSON"),
    ("[-Infinity]", "-Infinity không phải giá trị JSON"),
    (HUGE, f"có số dài quá {sys.get_int_max_str_digits()} chữ số"),
    ('{"a": 1, "a": 2}', "khóa 'a' có hai lần trong một object"),
    (b'{"a": "\xff"}', "không phải JSON hợp lệ"),
])
def test_an_operators_file_is_told_where_and_what_a_sender_only_that_it_is_not_json(
        body: str | bytes, detail: str) -> None:
    told = _refusal(body, unique_keys=True, detailed=True)
    assert (told.reason, told.code) == (detail, "json.invalid")
    if "hai lần" not in detail:  # without unique_keys a repeated key is no refusal
        plain = _refusal(body)
        assert (plain.reason, plain.code) == (INVALID, "json.invalid")


def test_a_repeated_key_is_refused_only_when_asked_and_text_or_bytes_parse_alike() -> None:
    assert loads(b'{"a": 1, "a": 2}') == {"a": 2}
    assert loads('{"a": [1, {"b": 2}]}', unique_keys=True, detailed=True) == {"a": [1, {"b": 2}]}


def test_the_depth_is_checked_on_text_as_on_bytes() -> None:
    for body in ("[" * 9 + "]" * 9, b"[" * 9 + b"]" * 9):
        told = _refusal(body, detailed=True)
        assert (told.reason, told.code) == ("JSON lồng nhau quá 8 cấp", "json.too_deep")
    assert loads("[" * 8 + "]" * 8, 8) == [[[[[[[[]]]]]]]]
