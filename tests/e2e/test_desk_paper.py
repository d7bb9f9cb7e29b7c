"""The desk's paper in a real browser: the clerk calls the courier, then prints the
hand-over record from /desk and downloads it; the PDF carries the orders' barcodes."""

from __future__ import annotations

import random

from pypdf import PdfReader

from simulators.onestop.data import ItemFactory
from tests.e2e.conftest import login
from tests.e2e.helpers import agency_items, pending_codes
from tests.support.code128 import barcodes
from tests.support.waits import wait_for


def test_clerk_prints_the_hand_over_record_from_the_desk(web_stack, page, artifacts):
    web_stack.carrier_admin("faults", {"return_rate": 0, "pickup_fail_rate": 0, "speed": 1})
    items = agency_items(ItemFactory(random.Random(17)), 3)
    web_stack.onestop_admin("handoffs", {"items": items})
    codes = [i["dossierCode"] for i in items]
    wait_for(lambda: set(codes) <= pending_codes(web_stack), "3 waiting hand-offs", 90)
    login(page, web_stack, "desk")
    page.goto(web_stack.web_url + "desk")
    for code in codes:
        page.check(f'#waiting input[name="code"][value="{code}"]')
    page.click("#call-courier")
    page.wait_for_selector("#result")

    def on_the_list() -> bool:  # the carrier accepted the orders: the courier is coming
        page.goto(web_stack.web_url + "desk")
        shown = {page.locator("#handover tbody tr").nth(i).get_attribute("data-code")
                 for i in range(page.locator("#handover tbody tr").count())}
        return set(codes) <= shown

    wait_for(on_the_list, "the three hand-offs waiting for the hand-over record", 60)
    page.screenshot(path=str(artifacts / "desk-handover.png"), full_page=True)
    page.check(f'#handover input[name="code"][value="{codes[0]}"]')
    page.check(f'#handover input[name="code"][value="{codes[1]}"]')
    with page.expect_download() as got:
        page.click("#print-record")
    download = got.value
    name = download.suggested_filename
    assert name.startswith("BB-") and name.endswith(".pdf")
    path = artifacts / name
    download.save_as(path)
    pdf = PdfReader(path)
    assert sorted(barcodes(pdf)) == sorted(f"{c}/R1" for c in codes[:2])
    assert "BIÊN BẢN BÀN GIAO KẾT QUẢ CHO BƯU CHÍNH" in pdf.pages[0].extract_text()
    page.goto(web_stack.web_url + "desk")
    assert page.locator(f'#open-records tr[data-number="{path.stem}"]').count() == 1
