"""The desk page's paper through the real app: a clerk prints the hand-over record (a PDF
download) for the hand-offs the courier is to take, prints the slips, reprints the record,
marks it handed over; another agency's record is not theirs; every POST needs its token."""
from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from pypdf import PdfReader
from starlette.testclient import TestClient

from tests.service.test_handover import OTHER, _handoff, _make
from tests.service.world import World
from tests.support.code128 import barcodes
from tests.web_app import add_staff, csrf, login, page_client
from worker.service.ledger import uow
from worker.service.views import handover_views
from worker.web.desk_paper import AGENCY_VI

pytestmark = pytest.mark.flows  # the pages through the real app


@pytest.fixture
def desk(world: World) -> Iterator[TestClient]:
    add_staff(world.rt.db)
    with page_client(world.rt) as client:
        assert login(client, "desk").status_code == 303
        yield client


def _post(client: TestClient, path: str, **fields: object) -> httpx.Response:
    token = csrf(client.get("/desk").text)
    return client.post(path, data={"csrf": token, **fields})


def test_a_clerk_prints_the_record_and_the_slips_and_marks_it_handed_over(
        world: World, desk: TestClient) -> None:
    a, b = _handoff(world, 1), _handoff(world, 2)
    _handoff(world, 3, agency=OTHER)
    page = desk.get("/desk").text
    assert "In biên bản bàn giao" in page and a in page and f"{OTHER}-261126" not in page
    got = _post(desk, "/desk/handover", code=[b], direction="result_delivery")
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="BB-000.00.17.H19-2026')
    pdf = PdfReader(io.BytesIO(got.content))
    assert barcodes(pdf) == [f"{b}/R1"]
    number = pdf.pages[0].extract_text().split("Số: ")[1].split()[0]
    assert number in desk.get("/desk").text  # listed as open, with "Đã bàn giao"
    again = desk.get(f"/desk/handover/{number}.pdf")
    assert again.content == got.content  # reprinted: the same bytes

    slips = _post(desk, "/desk/slips")  # nothing ticked: all of the agency's
    assert slips.headers["content-type"] == "application/pdf"
    assert barcodes(PdfReader(io.BytesIO(slips.content))) == [f"{a}/R1", f"{b}/R1"]

    closed = _post(desk, "/desk/handover/close", number=number)
    assert closed.status_code == 303
    assert "Không có biên bản nào đang chờ ký" in desk.get("/desk").text


def test_refusals_are_shown_on_the_page_and_tokens_are_required(
        world: World, desk: TestClient) -> None:
    _handoff(world, 1)
    other = _handoff(world, 2, agency=OTHER)
    refused = _post(desk, "/desk/handover", code=[other])
    assert refused.status_code == 400 and f"hồ sơ {other} không chờ bàn giao" in refused.text
    assert "codes:" not in refused.text  # the Vietnamese message, not the field's name
    for path in ("/desk/handover", "/desk/handover/close", "/desk/slips"):
        assert desk.post(path, data={"code": [other]}).status_code == 403, path
        assert desk.post(path, data={"csrf": "forged", "code": [other]}).status_code == 403


def test_another_agencys_record_is_not_the_clerks_to_reprint_close_or_slip(
        world: World, desk: TestClient) -> None:
    other = _handoff(world, 1, agency=OTHER)
    theirs = _make(world, [other], agency=OTHER)  # a real record of the other agency
    reprint = desk.get(f"/desk/handover/{theirs.number}.pdf")
    assert reprint.status_code == 400 and f"không có biên bản {theirs.number}" in reprint.text
    assert reprint.headers["content-type"].startswith("text/html")
    close = _post(desk, "/desk/handover/close", number=theirs.number)
    assert close.status_code == 400 and f"không có biên bản {theirs.number}" in close.text
    slips = _post(desk, "/desk/slips", code=[other])
    assert slips.status_code == 400 and f"hồ sơ {other} không chờ bàn giao" in slips.text
    with uow.read(world.rt) as s:  # still open, as the other agency left it
        assert [r.number for r in handover_views.open_records(s, OTHER)] == [theirs.number]


def test_a_record_of_an_odd_agency_code_is_reprinted_by_its_link(world: World) -> None:
    add_staff(world.rt.db)
    code = _handoff(world, 1, agency="../x/y z")
    with page_client(world.rt) as ops:
        assert login(ops, "ops").status_code == 303
        token = csrf(ops.get("/desk").text)
        made = ops.post("/desk/handover", data={"csrf": token, "code": [code]})
        assert made.status_code == 200, made.text[-500:]
        number = PdfReader(io.BytesIO(made.content)).pages[0].extract_text().split(
            "Số: ")[1].split()[0]
        assert number.startswith("BB-..-x-y-z-")
        assert f'href="/desk/handover/{number}.pdf"' in ops.get("/desk").text
        again = ops.get(f"/desk/handover/{number}.pdf")
        assert again.status_code == 200 and again.content == made.content


def test_ops_printing_for_two_agencies_at_once_are_told_to_pick_one(world: World) -> None:
    add_staff(world.rt.db)
    codes = [_handoff(world, 1), _handoff(world, 2, agency=OTHER)]
    with page_client(world.rt) as ops:
        assert login(ops, "ops").status_code == 303
        got = ops.post("/desk/handover", data={"csrf": csrf(ops.get("/desk").text),
                                               "code": codes})
    assert got.status_code == 400 and AGENCY_VI in got.text
