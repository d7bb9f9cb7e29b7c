"""The hand-over record and the envelope slips as printed: read back from the PDF (text
with its Vietnamese marks, each barcode decoded from the drawn bars), the same bytes when
printed again, four A6 slips to an A4 page with the phone in full."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from tests.service.test_handover import AGENCY, READY, _handoff, _make
from tests.service.world import World
from tests.support.code128 import RECT, barcodes, decode, modules
from worker.db.models import Agency, Handoff
from worker.domain.errors import InvalidInput
from worker.paper import handover_pdf, slips_pdf
from worker.paper.drawing import FONT, document
from worker.paper.drawing import modules as drawn
from worker.service.ledger import uow
from worker.service.views import handover_views
from worker.service.views.handover_views import RecordRow, RecordView, SlipSheet, SlipView


def _record_pdf(world: World, number: str) -> PdfReader:
    with uow.read(world.rt) as s:
        return PdfReader(io.BytesIO(handover_pdf.render(handover_views.record(s, number))))


def test_the_record_reads_back_with_its_marks_and_its_barcodes(world: World) -> None:
    codes = [_handoff(world, n) for n in (1, 2, 3)]
    made = _make(world)
    pdf = _record_pdf(world, made.number)
    text = pdf.pages[0].extract_text()
    for words in ("BIÊN BẢN BÀN GIAO KẾT QUẢ CHO BƯU CHÍNH", f"Số: {made.number}",
                  "Trần Văn Bình", "ĐẠI DIỆN CƠ QUAN", "NHÂN VIÊN BƯU CHÍNH",
                  "Tổng cộng: 3 bưu gửi; tiền thu hộ: 90.000 đồng", "08:00 ngày 26 tháng 11"):
        assert words in text
    assert barcodes(pdf) == [f"{c}/R1" for c in codes]
    assert pdf.metadata is not None and pdf.metadata.creation_date is not None
    assert pdf.metadata.creation_date.timestamp() == READY.timestamp()


def test_printing_again_gives_the_same_bytes(world: World) -> None:
    _handoff(world, 1), _handoff(world, 2)
    first = _make(world)
    with uow.read(world.rt) as s:
        before = handover_pdf.render(handover_views.record(s, first.number))
    again = _make(world, at=READY + timedelta(hours=1))
    assert again.number == first.number and not again.created
    with uow.read(world.rt) as s:
        assert handover_pdf.render(handover_views.record(s, again.number)) == before


def test_a_reprint_is_the_stored_record_not_the_hand_offs_as_they_are_now(
        world: World) -> None:
    code = _handoff(world, 1)
    made = _make(world)
    with uow.read(world.rt) as s:
        before = handover_pdf.render(handover_views.record(s, made.number))
    with uow.begin(world.rt) as s:  # corrected after the courier signed
        h = s.scalar(select(Handoff).where(Handoff.dossier_code == code))
        assert h is not None
        h.citizen_name, h.cod_amount, h.procedure_name = "Lê Thị Khác", 1, "Thủ tục khác"
        agency = s.get(Agency, AGENCY)
        assert agency is not None
        agency.name = "Tên mới của cơ quan"
    with uow.read(world.rt) as s:
        view = handover_views.record(s, made.number)
        assert handover_pdf.render(view) == before
    assert view.rows[0].person == "Trần Văn Bình" and view.cod_total == 15000


def test_a_name_the_font_cannot_draw_prints_and_leaves_nothing_in_the_logs(
        caplog: pytest.LogCaptureFixture) -> None:
    row = RecordRow("D-1", "D-1/R1", "Thủ tục", "山田 Trần", "Phường 1", 0)
    view = RecordView("BB-X-20261126-001", "BIÊN BẢN", "result_delivery", "X", "Cơ quan", "",
                      READY, "canbo1", [row])
    slip = SlipView("D-1/R1", "D-1", "山田 Trần", "0912 345 678", "Phường 1", "Cơ quan", "", "")
    with caplog.at_level(logging.DEBUG):
        record = PdfReader(io.BytesIO(handover_pdf.render(view)))
        slips_pdf.render(SlipSheet([slip], READY))
    assert "Trần" in record.pages[0].extract_text()
    assert not any(c in caplog.text for c in "山田"), caplog.text


def _texts(pdf: PdfReader, page: int) -> list[tuple[float, float, str]]:
    """Each line of text drawn on the page: (x, y of its baseline, in points; its text)."""
    out: list[tuple[float, float, str]] = []
    pdf.pages[page].extract_text(visitor_text=lambda t, _cm, tm, _f, _s: out.append(
        (float(tm[4]), float(tm[5]), t)) if t.strip() else None)
    return out


def _bar_bands(pdf: PdfReader, page: int) -> set[tuple[float, float]]:
    data = pdf.pages[page].get_contents().get_data()  # type: ignore[union-attr]
    return {(min(float(y), float(y) + float(h)), max(float(y), float(y) + float(h)))
            for _, y, _, h in RECT.findall(data) if abs(float(h)) > 10}  # bars, no rules


LONG = "Nguyễn Thị Phương Thảo Trường " * 25


def test_long_names_and_addresses_are_cut_inside_their_slip(world: World) -> None:
    slip = SlipView("D-1/R1", "D-1", LONG, "0912 345 678", LONG, LONG, LONG, "0277 1234")
    pdf = PdfReader(io.BytesIO(slips_pdf.render(SlipSheet([slip] * 4, READY))))
    texts, bands = _texts(pdf, 0), _bar_bands(pdf, 0)
    assert len(bands) == 2 and barcodes(pdf) == ["D-1/R1"] * 4
    slip_h = 148.5 / 25.4 * 72
    for low, high in bands:  # nothing written on a barcode, nor past its slip's bottom
        assert not [t for _, y, t in texts if low - 2 <= y <= high], texts
    top_slips = [y for _, y, _ in texts if y > slip_h]
    assert min(top_slips) > slip_h + 10  # the upper slips end inside their half
    assert sum("…" in t for _, _, t in texts) >= 4 * 4  # name and address cut, each slip
    bare = PdfReader(io.BytesIO(slips_pdf.render(SlipSheet([SlipView(
        "", "D-2", "Trần Văn Bình", "0912", "Phường 1", "Cơ quan", "", "")], READY))))
    assert barcodes(bare) == []  # no order number: no bare start and stop drawn


def test_slips_are_refused_for_a_hand_off_without_an_order_number(world: World) -> None:
    code = _handoff(world, 1)
    with uow.begin(world.rt) as s:
        h = s.scalar(select(Handoff).where(Handoff.dossier_code == code))
        assert h is not None
        h.order_number = ""
    with uow.read(world.rt) as s, pytest.raises(InvalidInput, match="chưa có số hiệu đơn"):
        handover_views.slips(s, AGENCY, None)


def test_a_long_agency_name_wraps_inside_the_records_header(world: World) -> None:
    row = RecordRow("D-1", "D-1/R1", LONG, LONG, LONG, 0)
    view = RecordView("BB-X-20261126-001", "BIÊN BẢN", "result_delivery", "X", LONG, "",
                      READY, "canbo1", [row])
    pdf = PdfReader(io.BytesIO(handover_pdf.render(view)))
    texts = _texts(pdf, 0)
    motto = next(y for _, y, t in texts if t.startswith("CỘNG HÒA XÃ HỘI"))
    beside = [t for x, y, t in texts if abs(y - motto) < 1 and x < 105 / 25.4 * 72]
    width = document(READY, "w")
    width.set_font(FONT, "B", 10)
    assert beside and all(width.get_string_width(t) <= 95 for t in beside), beside
    assert barcodes(pdf) == ["D-1/R1"]
    assert len(pdf.pages) == 1  # the row's free text cut: no row taller than a page


def test_the_decoder_refuses_a_damaged_symbol() -> None:
    good = drawn("000.00.17.H19-261126-0001/R1")
    assert decode(good) == "000.00.17.H19-261126-0001/R1"
    with pytest.raises((ValueError, KeyError)):
        decode(good[:11] + good[22:33] + good[11:22] + good[33:])  # two symbols swapped
    assert modules([(0.0, 2.0), (3.0, 1.0)]) == "1101"


def test_slips_are_four_to_a_page_with_the_phone_in_full(world: World) -> None:
    codes = [_handoff(world, n) for n in range(1, 6)]
    with uow.read(world.rt) as s:
        sheet = handover_views.slips(s, AGENCY, None)
    pdf = PdfReader(io.BytesIO(slips_pdf.render(sheet)))
    assert len(pdf.pages) == 2
    assert [round(float(v)) for v in pdf.pages[0].mediabox[2:]] == [595, 842]  # A4
    assert barcodes(pdf, 0) == [f"{c}/R1" for c in codes[:4]]
    assert barcodes(pdf, 1) == [f"{codes[4]}/R1"]
    text = pdf.pages[1].extract_text()
    assert "NGƯỜI NHẬN" in text and "Trần Văn Bình" in text and codes[4] in text
    assert "ĐT: 0912 345 678" in text  # in full: the courier calls it
