"""Reading Code 128 back from a PDF the desk printed: the bars are filled rectangles in the
page's drawing (`x y w h re f`); each row of bars is one symbol, decoded from its widths.

Independent of the drawing code: only the standard pattern table comes from python-barcode
(data, not its encoder). The checksum is verified, so a wrong or damaged symbol fails."""

from __future__ import annotations

import re
from collections import defaultdict

from barcode.charsets.code128 import CODES
from pypdf import PdfReader

RECT = re.compile(rb"([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) re f\b")
PATTERN = {p: i for i, p in enumerate(CODES)}
STOP = "1100011101011"
START_A, START_B, START_C = 103, 104, 105


def bar_rows(reader: PdfReader, page: int) -> list[list[tuple[float, float]]]:
    """Each row of filled rectangles on the page (same y and height), as (x, width), by x."""
    rows: dict[tuple[float, float], list[tuple[float, float]]] = defaultdict(list)
    data = reader.pages[page].get_contents().get_data()  # type: ignore[union-attr]
    for x, y, w, h in RECT.findall(data):
        rows[(round(float(y), 1), round(float(h), 1))].append((float(x), float(w)))
    # PDF y grows upwards: the top of the page first
    return [sorted(rows[k]) for k in sorted(rows, key=lambda k: -k[0]) if len(rows[k]) > 10]


def modules(bars: list[tuple[float, float]]) -> str:
    """Bars and the gaps between them as '1'/'0' modules (narrowest width = one module)."""
    unit = min(w for _, w in bars)
    out = []
    for i, (x, w) in enumerate(bars):
        if i:
            prev_x, prev_w = bars[i - 1]
            out.append("0" * round((x - prev_x - prev_w) / unit))
        out.append("1" * round(w / unit))
    return "".join(out)


def decode(mods: str) -> str:
    """The text a Code 128 symbol carries; ValueError if a pattern or the checksum is wrong."""
    if not mods.endswith(STOP) or (len(mods) - len(STOP)) % 11:
        raise ValueError("not a Code 128 symbol")
    values = [PATTERN[mods[i:i + 11]] for i in range(0, len(mods) - len(STOP), 11)]
    *data, check = values
    if sum(v * max(i, 1) for i, v in enumerate(data)) % 103 != check:
        raise ValueError("checksum")
    sets = {START_A: "A", START_B: "B", START_C: "C"}
    charset, text = sets[data[0]], []
    for v in data[1:]:
        if charset == "C" and v < 100:
            text.append(f"{v:02d}")
        elif v in (99, 100, 101):
            charset = {99: "C", 100: "B", 101: "A"}[v] if not (charset == "A" and v == 101
                                                              or charset == "B" and v == 100) \
                else charset
        elif charset == "B":
            text.append(chr(v + 32))
        elif charset == "A":
            text.append(chr(v + 32) if v < 64 else chr(v - 64))
        else:
            raise ValueError(f"code {v} in set {charset}")
    return "".join(text)


def symbols(row: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """A row's bars split into symbols where a gap is wider than a quiet zone's start."""
    unit = min(w for _, w in row)
    out = [[row[0]]]
    for prev, bar in zip(row, row[1:], strict=False):
        if bar[0] - prev[0] - prev[1] > 8 * unit:
            out.append([])
        out[-1].append(bar)
    return out


def barcodes(reader: PdfReader, page: int = 0) -> list[str]:
    """Every symbol on the page, top to bottom, left to right."""
    return [decode(modules(sym)) for row in bar_rows(reader, page) for sym in symbols(row)]
