"""Settings page in a real headless browser against the running stack: ops switch an agency's
dispatch mode and new hand-offs follow it at once; desk staff only read it."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from simulators.onestop.data import ItemFactory
from tests.e2e.conftest import login
from tests.e2e.helpers import agency_items, stack_db
from tests.support.waits import wait_for
from worker.db.engine import Database
from worker.db.models import Agency, Handoff, Job
from worker.launch.stack import Stack

AGENCY = "000.00.17.H19"  # in desk dispatch in the stack's environment
AGENCY_NAME, PROVINCE = "UBND xã Lai Vung", 82
ROW = f'tr[data-agency="{AGENCY}"]'




@pytest.fixture(scope="module")
def db(web_stack: Stack) -> Database:
    return stack_db(web_stack)


@pytest.fixture(scope="module")
def factory() -> ItemFactory:
    return ItemFactory(random.Random(23))


def seed_one(stack: Stack, db: Database, factory: ItemFactory) -> str:
    """One hand-off for the agency, sent through the one-stop simulator and ingested."""
    item = agency_items(factory, 1, agency=(AGENCY, AGENCY_NAME, PROVINCE))[0]
    stack.onestop_admin("handoffs", {"items": [item]})
    code = str(item["dossierCode"])

    def ingested() -> bool:
        with db.unit_of_work() as s:
            return s.scalar(select(Handoff.id).where(Handoff.dossier_code == code)) is not None

    wait_for(ingested, f"{code} to be ingested")
    return code


def has_post(db: Database, code: str) -> bool:
    with db.unit_of_work() as s:
        return s.scalar(select(Job.id).join(Handoff, Handoff.id == Job.handoff_id).where(
            Handoff.dossier_code == code, Job.kind == "post_order")) is not None


def test_nothing_is_served_without_login(web_stack: Stack) -> None:
    with httpx.Client(base_url=web_stack.web_url, follow_redirects=False) as client:
        r = client.get("/settings")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        r = client.post("/settings/dispatch", data={"agency_code": AGENCY, "mode": "auto"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_desk_reads_the_page_but_cannot_change_it(web_stack: Stack, db: Database, page,
                                                  artifacts: Path) -> None:
    login(page, web_stack, "desk")
    page.click("header nav >> text=Cài đặt")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/settings")
    main = page.locator("main")
    assert "Cách gọi bưu tá theo đơn vị" in main.inner_text()
    row = page.locator(ROW)
    assert "Tại bàn một cửa (chờ cán bộ bấm Gọi bưu tá)" in row.inner_text()
    assert "đổi bởi" in row.inner_text()  # who set it last (here the agencies import)
    assert main.locator("form, input, select, button").count() == 0
    assert page.get_by_role("button", name="Lưu").count() == 0
    assert "Chỉ cán bộ vận hành được thay đổi cài đặt" in main.inner_text()
    page.screenshot(path=str(artifacts / "settings-desk.png"), full_page=True)

    token = page.locator("input[name=csrf]").first.get_attribute("value")  # the logout form's
    r = page.request.post(web_stack.web_url + "settings/dispatch",
                          form={"csrf": token or "", "agency_code": AGENCY, "mode": "auto"})
    assert r.status == 403
    with db.unit_of_work() as s:
        assert s.get_one(Agency, AGENCY).dispatch == "desk"  # unchanged


def test_ops_switch_to_auto_posts_new_handoffs_at_once(
        web_stack: Stack, db: Database, factory: ItemFactory, page, artifacts: Path) -> None:
    # desk mode: it waits for the desk. The transaction that wrote the hand-off is the one
    # that would have written its post job in auto mode: seeing it ingested is enough.
    waiting = seed_one(web_stack, db, factory)
    assert not has_post(db, waiting)
    orders_before = web_stack.carrier_admin("stats")["orders"]

    login(page, web_stack, "ops")
    page.goto(web_stack.web_url + "settings")
    row = page.locator(ROW)
    assert row.locator("input[value=desk]").is_checked()
    assert "1" in row.locator("td.n").inner_text()  # one hand-off waiting at the desk
    row.get_by_label("Tự động (gửi ngay khi có hồ sơ)").check()
    row.get_by_role("button", name="Lưu").click()
    page.wait_for_load_state("networkidle")
    assert "saved=" in page.url
    saved = page.locator("#saved")
    assert "Tự động (gửi ngay khi có hồ sơ)" in saved.inner_text()
    assert "không tự gửi" in saved.inner_text()  # the waiting one is left for the desk
    row = page.locator(ROW)
    assert row.locator("input[value=auto]").is_checked()
    assert "đổi bởi ops" in row.inner_text()
    assert "không</strong> tự gửi các hồ sơ đang chờ" in page.content()
    page.screenshot(path=str(artifacts / "settings.png"), full_page=True)
    with db.unit_of_work() as s:
        stored = s.get_one(Agency, AGENCY)  # the agency's own row: one truth
        assert stored.dispatch == "auto" and stored.updated_by == "ops"

    fresh = seed_one(web_stack, db, factory)  # auto now: posted without the desk
    wait_for(lambda: web_stack.carrier_admin("stats")["orders"] > orders_before,
             "the new hand-off to be posted")
    stats = web_stack.carrier_admin("stats")
    assert f"{fresh}/R1" in stats["orders_by_number"]
    assert f"{waiting}/R1" not in stats["orders_by_number"]
    assert not has_post(db, waiting)


def test_ops_bad_mode_is_refused_on_the_page(web_stack: Stack, db: Database, page) -> None:
    login(page, web_stack, "ops")
    page.goto(web_stack.web_url + "settings")
    token = page.locator(f"{ROW} input[name=csrf]").get_attribute("value")
    r = page.request.post(web_stack.web_url + "settings/dispatch",
                          form={"csrf": token or "", "agency_code": AGENCY, "mode": "soon"},
                          max_redirects=0)
    assert r.status == 400 and "không hợp lệ" in r.text()
    r = page.request.post(web_stack.web_url + "settings/dispatch",
                          form={"agency_code": AGENCY, "mode": "desk"}, max_redirects=0)
    assert r.status == 403  # no CSRF token
    with db.unit_of_work() as s:
        assert s.get_one(Agency, AGENCY).dispatch == "auto"
