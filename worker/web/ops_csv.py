"""The hand-off list as a CSV download that Excel opens with Vietnamese text intact."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from starlette.responses import Response

from worker.domain.enums import VN_TZ

# A cell starting with one of these is read as a formula by Excel and LibreOffice
# (=HYPERLINK(...), +cmd|..., -1+1, @SUM(...)); tab and CR can hide such a start.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell as text, quoted with a leading ' when a spreadsheet would run it.

    Names, addresses, agency names and reasons come from the one-stop feed: never trusted.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_bytes(rows: Iterable[Iterable[object]]) -> bytes:
    """UTF-8 with a byte-order mark: without it Excel reads the file as ANSI."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(
        [safe_cell(cell) for cell in r] for r in rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def csv_response(rows: list[list[str]], *, unmasked: bool) -> Response:
    stamp = datetime.now(VN_TZ).strftime("%Y%m%d-%H%M")
    name = f"chuyen-phat-{stamp}{'-day-du' if unmasked else ''}.csv"
    return Response(csv_bytes(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",  # personal data: never kept by a proxy or the browser
    })
