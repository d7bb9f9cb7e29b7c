"""Envelope slips (phiếu gửi): A6, four to an A4 page, each with the sender (the agency), the
recipient with the phone in full (printed only here, for delivery), the address, and the
order number as Code 128."""

from __future__ import annotations

from fpdf import FPDF

from worker.paper.drawing import FONT, code128, document, fit
from worker.service.views.handover_views import SlipSheet, SlipView

A6_W, A6_H = 105.0, 148.5
PAD = 7.0


def render(sheet: SlipSheet) -> bytes:
    """Four slips per page, left to right, top to bottom; cut lines between them."""
    pdf = document(sheet.created_at, "Phiếu gửi")
    for i, slip in enumerate(sheet.slips):
        if i % 4 == 0:
            pdf.add_page()
            _cut_lines(pdf)
        _slip(pdf, slip, (i % 2) * A6_W, ((i % 4) // 2) * A6_H)
    return bytes(pdf.output())


def _cut_lines(pdf: FPDF) -> None:
    pdf.set_draw_color(160, 160, 160)
    pdf.set_dash_pattern(dash=2, gap=2)
    pdf.line(A6_W, 0, A6_W, 2 * A6_H)
    pdf.line(0, A6_H, 2 * A6_W, A6_H)
    pdf.set_dash_pattern()
    pdf.set_draw_color(0, 0, 0)


def _slip(pdf: FPDF, s: SlipView, x0: float, y0: float) -> None:
    """One slip; every text bounded (MAX_LINES), so the longest name or address ends above
    the barcode, never on it or on the next slip."""
    w = A6_W - 2 * PAD
    x = x0 + PAD
    pdf.set_xy(x, y0 + PAD)
    pdf.set_font(FONT, "B", 11)
    pdf.cell(w, 6, "PHIẾU GỬI - BƯU CHÍNH CÔNG ÍCH", align="C")
    pdf.set_xy(x, y0 + PAD + 8)
    _block(pdf, x, w, "Người gửi", [(s.sender_name, 2), (s.sender_address, 2),
                                     (f"ĐT: {s.sender_tel}" if s.sender_tel else "", 1)])
    pdf.set_y(pdf.get_y() + 3)
    _block(pdf, x, w, "Người nhận", [(s.recipient, 2), (f"ĐT: {s.phone}", 1),
                                      (s.address, 4)], big=True)
    pdf.set_xy(x, pdf.get_y() + 2)
    pdf.set_font(FONT, "", 8)
    pdf.multi_cell(w, 4, fit(pdf, w, f"Mã hồ sơ: {s.dossier_code}", 1))
    bar_y = y0 + A6_H - PAD - 24
    assert pdf.get_y() < bar_y, "a slip's text reached its barcode"
    if not s.order_number:  # handover_views.slips refuses these; never a bare start/stop
        return
    used = code128(pdf, s.order_number, x, bar_y, w, 16)
    pdf.set_xy(x, bar_y + 17)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(used, 4, fit(pdf, used, s.order_number, 1), align="C")


def _block(pdf: FPDF, x: float, w: float, label: str, lines: list[tuple[str, int]],
           big: bool = False) -> None:
    """A label and its lines, each cut to its number of lines."""
    pdf.set_x(x)
    pdf.set_font(FONT, "B", 9)
    pdf.cell(w, 5, label.upper(), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B" if big else "", 11 if big else 9)
    for text, most in ((t, n) for t, n in lines if t):
        pdf.set_x(x)
        pdf.multi_cell(w, 5 if big else 4.5, fit(pdf, w, text, most))
        if big:
            pdf.set_font(FONT, "", 10)
