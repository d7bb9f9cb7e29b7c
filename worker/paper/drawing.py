"""What the desk's PDFs share: an A4 document with DejaVu Sans embedded (Vietnamese), a
fixed creation date (the same document, the same bytes), and Code 128 bars drawn as
filled rectangles (vector: crisp at any printer's resolution)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from barcode import Code128
from fpdf import FPDF

# fpdf warns of each glyph the font lacks, quoting the characters: pieces of a citizen's
# name in the logs. The paper shows a blank for them; the log says nothing.
logging.getLogger("fpdf").setLevel(logging.ERROR)

FONTS = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"
MAX_MODULE_MM = 0.33  # a wide cell does not make fat bars


def document(created_at: datetime, title: str) -> FPDF:
    """A new A4 document in millimetres; its dates are `created_at`, never 'now'."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(created_at)
    pdf.set_title(title)
    pdf.set_producer("postal-handoff")
    pdf.set_creator("postal-handoff")
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_font(FONT, size=10)
    pdf.set_auto_page_break(auto=False)
    return pdf


def fit(pdf: FPDF, w: float, text: str, max_lines: int) -> str:
    """`text` as the current font wraps it in `w`, at most `max_lines` lines: what is cut is
    marked with "…". Free text (names, addresses, agency names) stays inside its box."""
    lines = pdf.multi_cell(w, 4, text, dry_run=True, output="LINES")
    assert isinstance(lines, list)
    if len(lines) <= max_lines:
        return "\n".join(lines)
    last = lines[max_lines - 1].rstrip()
    while last and pdf.get_string_width(last + "…") > w - 2 * pdf.c_margin:
        last = last[:-1].rstrip()
    return "\n".join([*lines[:max_lines - 1], last + "…"])


def modules(value: str) -> str:
    """The symbol as modules, '1' a bar, '0' a space (start, data, checksum, stop)."""
    return str(Code128(value).build()[0])


def code128(pdf: FPDF, value: str, x: float, y: float, width: float, height: float) -> float:
    """Draw `value`'s bars within `width` from (x, y); the width the bars took."""
    bars = modules(value)
    module = min(width / len(bars), MAX_MODULE_MM)
    pdf.set_fill_color(0, 0, 0)
    start = None
    for i, bit in enumerate(bars + "0"):
        if bit == "1" and start is None:
            start = i
        elif bit == "0" and start is not None:
            pdf.rect(x + start * module, y, (i - start) * module, height, style="F")
            start = None
    return module * len(bars)


