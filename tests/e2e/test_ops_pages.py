"""Ops pages in a real headless browser against the running stack: search, timeline, list,
CSV, overview, dead letters and replay, and who may do what."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from simulators.onestop.data import ItemFactory
from tests.e2e.conftest import login
from tests.e2e.helpers import stack_db
from tests.support.waits import wait_for
from worker.db.engine import Database
from worker.db.models import Handoff, Job, SlaBreach, utcnow
from worker.domain.enums import VN_TZ
from worker.launch.stack import Stack

PAGES = ["ops", "ops/handoffs", "ops/handoffs.csv", "ops/handoffs.csv?unmasked=1",
         "ops/search?q=0912345678", "ops/handoffs/1", "ops/dead", "ops/overview.json"]




@pytest.fixture(scope="module")
def db(web_stack: Stack) -> Database:
    return stack_db(web_stack)


@pytest.fixture(scope="module")
def seeded(web_stack: Stack, db: Database) -> list[dict]:
    """Eight result-ready dossiers, all ingested; one of them is marked late (an SLA breach)."""
    items = web_stack.onestop_admin("handoffs", {"count": 8, "type": "result_ready"})["items"]
    codes = {i["dossierCode"] for i in items}

    def ingested() -> bool:
        with db.unit_of_work() as s:
            return s.scalar(select(func.count()).select_from(Handoff).where(
                Handoff.dossier_code.in_(codes))) == len(codes)

    wait_for(ingested, "the seeded dossiers to be ingested")
    with db.unit_of_work() as s:
        late = s.scalar(select(Handoff).where(Handoff.dossier_code == items[1]["dossierCode"]))
        assert late is not None
        s.add(SlaBreach(handoff_id=late.id, rule="not_picked_up",
                        detail="bưu tá chưa đến lấy sau 24 giờ"))
    return items


def test_nothing_is_served_without_login(web_stack: Stack) -> None:
    with httpx.Client(base_url=web_stack.web_url, follow_redirects=False) as client:
        for path in PAGES:
            r = client.get("/" + path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
        r = client.post("/ops/dead/replay", data={"job": "1"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_search_by_phone_shows_it_masked_and_opens_the_timeline(
        web_stack: Stack, seeded: list[dict], page, artifacts: Path) -> None:
    item = seeded[0]
    phone = item["citizen"]["phone"]  # 0XXXXXXXXX; staff may type it as +84 ...
    log = web_stack.home / "web.log"
    searches = log.read_text(errors="replace").count("/ops/search?q=")
    login(page, web_stack, "ops")
    page.goto(web_stack.web_url + "ops")
    page.fill("input[name=q]", "+84 " + phone[1:])
    page.click("form.ops-search button")
    page.wait_for_url(re.compile(r"/ops/search\?q="))
    results = page.locator("#results")
    assert item["dossierCode"] in results.inner_text()
    assert f"{phone[:2]}****{phone[-3:]}" in results.inner_text()
    assert phone not in page.content()
    page.screenshot(path=str(artifacts / "ops-search.png"), full_page=True)
    # the search went in the query string: the web process's access log must not keep it
    page.goto(web_stack.web_url + "ops/search?q=" + phone)
    web_log = wait_for(lambda: (text := log.read_text(errors="replace")).count(
        "/ops/search?q=") >= searches + 2 and text, "both searches' lines in the web log", 15)
    spaced = f"{phone[1:4]}+{phone[4:7]}+{phone[7:]}"  # "+84 912 345 678" as a browser sends it
    for typed in (phone, phone[1:], spaced):
        assert typed not in web_log

    page.click(f"text={item['dossierCode']}")
    page.wait_for_url(re.compile(r"/ops/handoffs/\d+$"))
    wait_for(lambda: page.reload() or page.locator("#events tbody tr").count() >= 2,
             "a few events in the timeline")
    events = page.locator("#events").inner_text()
    assert "+07:00" in events and "Đã áp dụng" in events
    assert "Gửi yêu cầu bưu chính" in page.locator("#jobs").inner_text()
    assert phone not in page.content()
    page.screenshot(path=str(artifacts / "ops-timeline.png"), full_page=True)


def test_list_filters_and_masked_csv(web_stack: Stack, seeded: list[dict], page,
                                     artifacts: Path) -> None:
    agency = seeded[0]["agency"]
    mine = [i for i in seeded if i["agency"]["code"] == agency["code"]]
    login(page, web_stack, "ops")
    page.goto(web_stack.web_url + "ops/handoffs")
    page.select_option("select[name=agency]", agency["code"])
    today = utcnow().astimezone(VN_TZ).date()
    page.fill("input[name=from]", (today - timedelta(days=2)).isoformat())
    page.fill("input[name=to]", today.isoformat())
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"agency="))
    rows = page.locator("table tbody tr")
    assert rows.count() == len(mine)
    assert set(rows.locator("td:nth-child(3)").all_inner_texts()) == {agency["name"]}
    page.screenshot(path=str(artifacts / "ops-list.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#csv")
    raw = Path(info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0][0] == "Mã hồ sơ" and len(lines) == len(mine) + 1
    assert {r[0] for r in lines[1:]} == {i["dossierCode"] for i in mine}
    text = raw.decode("utf-8-sig")
    for i in mine:
        assert i["citizen"]["phone"] not in text and i["citizen"]["name"] not in text
    assert f"{mine[0]['citizen']['phone'][:2]}****" in text

    with page.expect_download() as info:
        page.click("#csv-full")
    full = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    assert all(i["citizen"]["phone"] in full for i in mine)


def test_overview_shows_late_first_and_refreshes_itself(
        web_stack: Stack, seeded: list[dict], page, artifacts: Path) -> None:
    login(page, web_stack, "ops")
    page.goto(web_stack.web_url + "ops")
    late = page.locator("section.late")
    assert "Trễ hạn / cần xử lý" in late.inner_text()
    assert seeded[1]["dossierCode"] in late.inner_text()
    assert page.locator("svg.chart rect.bar").count() == 14
    table = page.locator("table.num").inner_text()
    assert seeded[0]["agency"]["name"] in table
    # the script replaces the live part from /ops/overview.json every 10 s
    # (an attribute wait: a wait_for_function string would need 'unsafe-eval', which the
    # pages' Content-Security-Policy rightly refuses)
    expect(page.locator("#ops-live")).to_have_attribute("data-refreshed", re.compile(r"^[1-9]"),
                                                        timeout=20_000)
    assert seeded[1]["dossierCode"] in page.locator("section.late").inner_text()
    page.screenshot(path=str(artifacts / "ops-overview.png"), full_page=True)


def _rejected_item(code_suffix: str) -> dict:
    """A valid result-ready item of an agency that posts at once, with a code of our own."""
    factory = ItemFactory(random.Random(7))
    item = factory.make()
    while item["agency"]["code"] == "000.00.17.H19":
        item = factory.make()
    item["dossierCode"] = item["dossierCode"].rsplit("-", 1)[0] + "-" + code_suffix
    item["id"] = f"hof_ops_{code_suffix}"
    return item


def test_dead_letter_is_replayed_by_ops_not_by_desk(
        web_stack: Stack, db: Database, browser, page, artifacts: Path) -> None:
    item = _rejected_item("9001")
    code = item["dossierCode"]
    # the one-stop refuses status updates for this dossier (422: permanent) → dead pushes
    web_stack.onestop_admin("faults", {"reject_push_for": [code]})
    web_stack.onestop_admin("handoffs", {"items": [item]})

    def dead_jobs() -> list[int]:
        with db.unit_of_work() as s:
            return list(s.scalars(select(Job.id).join(Handoff, Handoff.id == Job.handoff_id)
                                  .where(Handoff.dossier_code == code, Job.state == "dead")))

    first = wait_for(dead_jobs, "a dead push_status job")
    assert isinstance(first, list)

    # a desk clerk sees the list but no replay button, and a POST is refused
    desk = browser.new_context(locale="vi-VN")
    try:
        desk_page = desk.new_page()
        login(desk_page, web_stack, "desk")
        desk_page.goto(web_stack.web_url + "ops/dead")
        assert code in desk_page.content()
        assert desk_page.locator("#replay").count() == 0
        token = desk_page.locator("input[name=csrf]").first.get_attribute("value")
        r = desk_page.request.post(web_stack.web_url + "ops/dead/replay",
                                   form={"csrf": token or "", "job": str(first[0])})
        assert r.status == 403
    finally:
        desk.close()
    assert first[0] in dead_jobs()

    web_stack.onestop_admin("faults", {"reject_push_for": []})  # the cause is fixed
    login(page, web_stack, "ops")
    page.goto(web_stack.web_url + "ops/dead")
    assert code in page.locator("table").inner_text()
    page.check("#all")  # the script ticks every row
    boxes = page.locator("input[name=job]")
    dead = [int(v) for v in boxes.evaluate_all("bs => bs.filter(b => b.checked).map(b => b.value)")]
    assert dead and set(first) <= set(dead) and len(dead) == boxes.count()
    page.screenshot(path=str(artifacts / "ops-dead.png"), full_page=True)
    page.click("#replay")
    outcomes = page.locator("#outcomes")
    outcomes.wait_for()
    assert outcomes.locator("li.yes").count() == len(dead)
    assert "đã đưa vào hàng đợi chạy lại" in outcomes.inner_text()

    def replayed_done() -> bool:
        with db.unit_of_work() as s:
            states = dict(s.execute(select(Job.id, Job.state).where(Job.id.in_(dead))).all())
        return all(v == "done" for v in states.values())

    wait_for(replayed_done, "the replayed pushes to complete")
    pushed = web_stack.onestop_admin("events")["events"]
    assert any(e["dossierCode"] == code for e in pushed)
