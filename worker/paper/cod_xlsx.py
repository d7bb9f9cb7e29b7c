"""The fee reconciliation (COD) report as an XLSX workbook: a summary sheet per agency and a
detail sheet, the hand-offs that differ first (worker/service/views/cod_report.py).

Agency names and dossier codes come from the one-stop feed: never trusted. Every text cell
is written as text (never a formula, whatever it starts with) and marked with Excel's quote
prefix, so a cell such as `=HYPERLINK(...)` is shown, never run, even once edited.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from worker.domain.moments import local
from worker.service.views.cod_report import CodReport, table, totals_table

SUMMARY, DETAIL = "Tổng hợp", "Chi tiết"
BOLD = Font(bold=True)
DIFFERS = PatternFill("solid", fgColor="FFF2CC")  # the rows that differ, as on the page
WIDTH = 22


def _write(ws: Worksheet, rows: Iterable[list[object]], start: int = 1) -> int:
    """Write rows from line `start`; text as text, numbers as numbers. The next free line."""
    line = start
    for values in rows:
        for col, value in enumerate(values, 1):
            cell = ws.cell(row=line, column=col)
            if isinstance(value, int) and not isinstance(value, bool):
                cell.value = value
                cell.number_format = "#,##0"
            else:
                cell.value = "" if value is None else str(value)
                cell.data_type = TYPE_STRING  # openpyxl reads a leading "=" as a formula
                cell.quotePrefix = True
        line += 1
    return line


def render(rep: CodReport) -> bytes:
    """The workbook's bytes."""
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = SUMMARY
    scope = rep.agency or "tất cả cơ quan"
    line = _write(summary, [[f"Đối soát tiền thu hộ (COD) tháng {rep.month} — {scope}"],
                            [f"Lập lúc {local(rep.made_at)}; chưa trả sau "
                             f"{rep.remit_days:g} ngày kể từ khi thu là chậm"]])
    head = line + 1
    _write(summary, totals_table(rep), head)
    for cell in summary[head]:
        cell.font = BOLD
    summary["A1"].font = BOLD
    detail = wb.create_sheet(DETAIL)
    _write(detail, table(rep))
    for cell in detail[1]:
        cell.font = BOLD
    for n, row in enumerate(rep.rows, 2):
        if row.problems:
            for cell in detail[n]:
                cell.fill = DIFFERS
    for ws in (summary, detail):
        for column in ws.iter_cols(min_row=1, max_row=1):
            ws.column_dimensions[column[0].column_letter].width = WIDTH
    detail.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
