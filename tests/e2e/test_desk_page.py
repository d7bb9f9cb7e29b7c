"""The desk page in a real browser: see who waits, select some, call the courier."""

from __future__ import annotations

import json
import random
import re
import time

import httpx

from simulators.onestop.data import ItemFactory
from tests.e2e.conftest import login
from tests.e2e.helpers import agency_items, pending_codes, posts_closed
from tests.support.waits import wait_for


def test_desk_page_needs_a_login(web_stack):
    r = httpx.get(web_stack.web_url + "desk", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


def test_clerk_calls_the_courier_for_the_selected_dossiers(web_stack, page, artifacts):
    web_stack.carrier_admin("faults", {"return_rate": 0, "pickup_fail_rate": 0, "speed": 1})
    items = agency_items(ItemFactory(random.Random(5)), 6)
    web_stack.onestop_admin("handoffs", {"items": items})
    codes = [i["dossierCode"] for i in items]
    wait_for(lambda: set(codes) <= pending_codes(web_stack), "6 waiting hand-offs", 90)

    started = time.monotonic()
    login(page, web_stack, "desk")
    page.goto(web_stack.web_url + "desk")
    assert page.locator("h2", has_text="Hồ sơ chờ gọi bưu tá").is_visible()
    rows = page.locator("#waiting tbody tr")
    assert rows.count() == 6
    shown = [rows.nth(i).get_attribute("data-code") for i in range(6)]
    assert set(shown) == set(codes)
    assert re.search(r"\b0\d\*{4}\d{3}\b", page.inner_text("#waiting"))  # masked phones
    assert page.locator("#call-courier").is_disabled()  # nothing selected yet

    # "Chọn tất cả" selects every row, and unselects them again
    page.check("#select-all")
    assert page.locator("#waiting tbody input:checked").count() == 6
    page.uncheck("#select-all")
    assert page.locator("#waiting tbody input:checked").count() == 0

    chosen = shown[:3]
    for code in chosen:
        page.check(f'#waiting input[name="code"][value="{code}"]')
    assert page.inner_text("#selected-count") == "Đã chọn 3 hồ sơ"
    page.screenshot(path=str(artifacts / "desk-waiting.png"), full_page=True)

    page.click("#call-courier")
    page.wait_for_selector("#result")
    outcomes = page.locator("#result ul.outcomes li")
    assert outcomes.count() == 3
    for i in range(3):
        li = outcomes.nth(i)
        assert li.get_attribute("data-code") == chosen[i]
        assert li.get_attribute("data-outcome") == "ordered"
        assert "Đã gọi bưu tá" in li.inner_text()
    # the list again: the three left the waiting list and show as called
    assert page.locator("#waiting tbody tr").count() == 3
    for code in chosen:
        assert page.locator(f'#ordered tr[data-code="{code}"]').count() == 1
    page.screenshot(path=str(artifacts / "desk-result.png"), full_page=True)
    print(f"browser flow took {time.monotonic() - started:.2f}s")

    numbers = {f"{c}/R1" for c in chosen}
    wait_for(lambda: set(web_stack.carrier_admin("stats")["orders_by_number"]) == numbers,
             "the carrier to get exactly the chosen orders", 60)
    # another order could only come from a post job not yet done
    wait_for(lambda: posts_closed(web_stack, set(chosen)), "the three post jobs done", 60)
    assert set(web_stack.carrier_admin("stats")["orders_by_number"]) == numbers

    # cancel one from "Đã gọi bưu tá, chưa lấy"
    page.goto(web_stack.web_url + "desk")
    page.click(f'#ordered tr[data-code="{chosen[2]}"] button:has-text("Hủy")')
    page.wait_for_selector("#result")
    li = page.locator("#result ul.outcomes li")
    assert li.count() == 1
    assert li.get_attribute("data-outcome") in ("cancelled", "cancel_requested")
    row = page.locator(f'#ordered tr[data-code="{chosen[2]}"]')
    assert row.count() == 0 or "Đang yêu cầu hủy" in row.inner_text()
    page.screenshot(path=str(artifacts / "desk-cancel.png"), full_page=True)

    # by code: one already called, one malformed, one waiting → one line each
    page.goto(web_stack.web_url + "desk")
    page.fill("#by-code textarea", f"{chosen[0]}\nkhong-phai-ma\n{shown[5]}")
    page.click('#by-code button[type="submit"]')
    page.wait_for_selector("#result")
    lines = page.locator("#result ul.outcomes li")
    assert [lines.nth(i).get_attribute("data-outcome") for i in range(3)] == [
        "already_ordered", "refused", "ordered"]
    assert "Không thực hiện được:" in lines.nth(1).inner_text()
    page.screenshot(path=str(artifacts / "desk-by-code.png"), full_page=True)


def test_clerk_cancels_a_waiting_dossier(web_stack, page, artifacts):
    items = agency_items(ItemFactory(random.Random(11)), 2)
    for n, item in enumerate(items):  # a fresh factory numbers from 0001 again: renumber
        item["dossierCode"] = f"{item['dossierCode'][:-4]}{9001 + n:04d}"
    web_stack.onestop_admin("handoffs", {"items": items})
    codes = [i["dossierCode"] for i in items]
    wait_for(lambda: set(codes) <= pending_codes(web_stack), "2 waiting hand-offs", 90)

    login(page, web_stack, "desk")
    page.goto(web_stack.web_url + "desk")
    gone, kept = codes
    row = page.locator(f'#waiting tr[data-code="{gone}"]')
    assert row.locator('button:has-text("Hủy")').count() == 1
    # choosing another row first: cancelling one must not call the courier for it
    page.check(f'#waiting input[name="code"][value="{kept}"]')
    row.locator('button:has-text("Hủy")').click()
    page.wait_for_selector("#result")
    li = page.locator("#result ul.outcomes li")
    assert li.count() == 1
    assert li.get_attribute("data-code") == gone
    assert li.get_attribute("data-outcome") == "cancelled"
    assert "Đã hủy" in li.inner_text()
    assert page.locator(f'#waiting tr[data-code="{gone}"]').count() == 0
    assert page.locator(f'#waiting tr[data-code="{kept}"]').count() == 1
    assert page.locator(f'#ordered tr[data-code="{gone}"]').count() == 0
    page.screenshot(path=str(artifacts / "desk-cancel-waiting.png"), full_page=True)

    out = web_stack.run("status", gone, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["status"] == "cancelled"
    assert gone not in pending_codes(web_stack) and kept in pending_codes(web_stack)
    assert not any(n.startswith(kept) for n in
                   web_stack.carrier_admin("stats")["orders_by_number"])
