"""The hand-over record (biên bản bàn giao) as an A4 PDF: agency, date, number, one row per
envelope with its order number as Code 128, totals, and the two signature blocks."""

from __future__ import annotations

from fpdf import FPDF

from worker.domain.cod import money
from worker.paper.drawing import FONT, code128, document, fit
from worker.service.views.handover_views import RecordRow, RecordView

LEFT, WIDTH, BOTTOM = 10.0, 190.0, 282.0
# (heading, width in mm)
COLUMNS = (("STT", 9.0), ("Mã hồ sơ", 36.0), ("Số hiệu đơn / mã vạch", 68.0),
           ("Thủ tục", 31.0), ("Người nhận, nơi nhận", 30.0), ("Thu hộ (đồng)", 16.0))
LINE = 4.0
BAR_HEIGHT = 8.0
MOST = 6  # lines of a row's longest free text (a procedure's name)
PERSON = {"result_delivery": "Người nhận, nơi nhận", "pickup": "Người gửi, nơi gửi"}


def render(view: RecordView) -> bytes:
    pdf = document(view.created_at, view.number)
    pdf.add_page()
    _head(pdf, view)
    _table_head(pdf, view)
    for i, row in enumerate(view.rows, 1):
        _row(pdf, view, i, row)
    _totals(pdf, view)
    _signatures(pdf)
    return bytes(pdf.output())


def _head(pdf: FPDF, view: RecordView) -> None:
    """The agency (its name wrapped in its half, at most three lines) beside the national
    motto, then the title and number below whichever is longer."""
    pdf.set_font(FONT, "B", 10)
    pdf.set_xy(LEFT + 95, 10)
    pdf.cell(95, 5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C")
    pdf.set_xy(LEFT + 95, 15)
    pdf.cell(95, 5, "Độc lập - Tự do - Hạnh phúc", align="C")
    pdf.set_xy(LEFT, 10)
    pdf.multi_cell(93, 5, fit(pdf, 93, view.agency_name.upper(), 3), align="C")
    pdf.set_x(LEFT)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(93, 5, fit(pdf, 93, f"Mã cơ quan: {view.agency_code}", 1), align="C")
    y = max(pdf.get_y(), 20.0) + 6
    pdf.set_font(FONT, "B", 14)
    pdf.set_xy(LEFT, y)
    pdf.cell(WIDTH, 7, view.title, align="C")
    pdf.set_font(FONT, "", 10)
    pdf.set_xy(LEFT, y + 8)
    pdf.cell(WIDTH, 5, f"Số: {view.number}", align="C")
    pdf.set_xy(LEFT, y + 16)
    pdf.multi_cell(WIDTH, 5, fit(pdf, WIDTH, (
        f"Hôm nay, {view.created_local}, tại {view.agency_name}"
        f"{', ' + view.agency_address if view.agency_address else ''}, đại diện cơ quan và "
        f"nhân viên bưu chính bàn giao {len(view.rows)} bưu gửi theo danh sách dưới đây "
        f"(dịch vụ bưu chính công ích, Quyết định 45/2016/QĐ-TTg). Người lập: "
        f"{view.created_by}."), 6))
    pdf.ln(2)


def _table_head(pdf: FPDF, view: RecordView) -> None:
    pdf.set_font(FONT, "B", 8)
    x, y = LEFT, pdf.get_y()
    for name, w in COLUMNS:
        pdf.set_xy(x, y)
        text = PERSON.get(view.direction, name) if name.startswith("Người") else name
        pdf.multi_cell(w, LINE, text, border=1, align="C", max_line_height=LINE)
        x += w
    pdf.set_y(y + 2 * LINE)
    pdf.set_font(FONT, "", 8)


def _lines(pdf: FPDF, w: float, text: str) -> int:
    lines = pdf.multi_cell(w - 1, LINE, text, dry_run=True, output="LINES")
    assert isinstance(lines, list)
    return len(lines)


def _row(pdf: FPDF, view: RecordView, i: int, row: RecordRow) -> None:
    """One envelope; free text cut to a few lines (MOST), the order number to one: its
    barcode is drawn on the line below it."""
    widths = [w - 1 for _, w in COLUMNS]
    texts = [str(i), fit(pdf, widths[1], row.dossier_code, 2),
             fit(pdf, widths[2], row.order_number, 1),
             fit(pdf, widths[3], row.procedure_name, MOST),
             f"{fit(pdf, widths[4], row.person, 3)}\n{fit(pdf, widths[4], row.ward, 3)}",
             money(row.cod_amount)]
    height = max(max(_lines(pdf, w, t) for (_, w), t in zip(COLUMNS, texts, strict=True))
                 * LINE, LINE + BAR_HEIGHT + 1.5) + 1
    if pdf.get_y() + height > BOTTOM:
        pdf.add_page()
        _table_head(pdf, view)
    x, y = LEFT, pdf.get_y()
    for col, ((_, w), text) in enumerate(zip(COLUMNS, texts, strict=True)):
        pdf.rect(x, y, w, height)
        pdf.set_xy(x + 0.5, y + 0.5)
        pdf.multi_cell(w - 1, LINE, text, align="R" if col == len(COLUMNS) - 1 else "L")
        x += w
    bar_x = LEFT + sum(w for _, w in COLUMNS[:2]) + 1.0
    if row.order_number:
        code128(pdf, row.order_number, bar_x, y + LINE + 1.0, COLUMNS[2][1] - 2, BAR_HEIGHT)
    pdf.set_y(y + height)


def _totals(pdf: FPDF, view: RecordView) -> None:
    if pdf.get_y() + 60 > BOTTOM:
        pdf.add_page()
    pdf.set_font(FONT, "B", 9)
    y = pdf.get_y()
    pdf.rect(LEFT, y, WIDTH, 6)
    pdf.set_xy(LEFT + 1, y + 0.5)
    pdf.cell(WIDTH - 2, 5, f"Tổng cộng: {len(view.rows)} bưu gửi; tiền thu hộ: "
             f"{money(view.cod_total)} đồng")
    pdf.set_y(y + 8)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(WIDTH, 5, "Biên bản lập thành 02 bản, mỗi bên giữ 01 bản. Hai bên đã kiểm "
                   "đếm đủ số bưu gửi nêu trên, nguyên vẹn, đúng mã vạch.")


def _signatures(pdf: FPDF) -> None:
    y = pdf.get_y() + 6
    pdf.set_font(FONT, "B", 10)
    for i, who in enumerate(("ĐẠI DIỆN CƠ QUAN", "NHÂN VIÊN BƯU CHÍNH")):
        pdf.set_xy(LEFT + i * 95, y)
        pdf.cell(95, 5, who, align="C")
    pdf.set_font(FONT, "", 9)
    for i in range(2):
        pdf.set_xy(LEFT + i * 95, y + 5)
        pdf.cell(95, 5, "(Ký, ghi rõ họ tên)", align="C")
