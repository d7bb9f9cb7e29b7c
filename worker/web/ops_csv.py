"""The hand-off list as a CSV download that Excel opens with Vietnamese text intact."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from starlette.responses import Response

from worker.reports import VN


def csv_bytes(rows: list[list[str]]) -> bytes:
    """UTF-8 with a byte-order mark: without it Excel reads the file as ANSI."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def csv_response(rows: list[list[str]], *, unmasked: bool) -> Response:
    stamp = datetime.now(VN).strftime("%Y%m%d-%H%M")
    name = f"chuyen-phat-{stamp}{'-day-du' if unmasked else ''}.csv"
    return Response(csv_bytes(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",  # personal data: never kept by a proxy or the browser
    })
