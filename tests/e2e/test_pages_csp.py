"""The pages work under their Content-Security-Policy in a real browser: styles load from
/static, the scripts run, and Chromium reports no blocked inline code."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from simulators.onestop.data import ItemFactory
from tests.e2e.conftest import login
from tests.e2e.helpers import DESK_AGENCY, agency_items, stack_db
from tests.support.waits import wait_for
from worker.db.models import CodLedger, Handoff
from worker.launch.stack import Stack

PAGES = ["desk", "ops", "ops/handoffs", "ops/search?q=0912345678", "ops/dead", "settings",
         "ops/handoffs/999999", "ops/agencies", "ops/cod", "ops/cod?month=2026-11"]


def test_every_page_renders_under_the_policy_without_violations(
        web_stack: Stack, page, artifacts: Path) -> None:
    # a dossier waiting at the desk (desk dispatch), so the agency filter has a choice
    item = agency_items(ItemFactory(random.Random(11)), 1)[0]
    web_stack.onestop_admin("handoffs", {"items": [item]})
    db = stack_db(web_stack)

    def ingested() -> bool:
        with db.unit_of_work() as s:
            return bool(s.scalar(select(func.count()).select_from(Handoff).where(
                Handoff.dossier_code == item["dossierCode"])))

    wait_for(ingested, "the dossier to be ingested")
    db.dispose()
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text else None)
    login(page, web_stack, "ops")
    for path in PAGES:
        response = page.goto(web_stack.web_url + path)
        assert response is not None and response.status in (200, 404), (path, response)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
    # the stylesheets moved out of the templates still apply
    page.goto(web_stack.web_url + "ops")
    assert page.locator(".ops-head").evaluate("e => getComputedStyle(e).display") == "flex"
    page.goto(web_stack.web_url + "desk")
    assert page.locator(".desk-head").first.evaluate(
        "e => getComputedStyle(e).display") == "flex"
    # the agency filter, once an inline onchange, still submits itself
    agency = DESK_AGENCY[0]
    page.select_option("select[data-autosubmit]", agency)
    page.wait_for_url(f"**/desk?agency={agency}*", timeout=10_000)
    page.screenshot(path=str(artifacts / "desk-under-csp.png"), full_page=True)
    assert not blocked, blocked


def test_the_fee_reconciliation_shows_the_differing_first(web_stack: Stack, page,
                                                          artifacts: Path) -> None:
    """/ops/cod in the browser: three fees of November, one collected and paid back, one
    collected but never paid back, one reported short; the two that differ come first and
    stand out."""
    at = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
    fees = {"0001": (30000, 30000, True), "0002": (45000, 45000, False),
            "0003": (60000, 50000, True)}  # expected, reported, paid back
    db = stack_db(web_stack)
    with db.unit_of_work() as s:
        for n, (expected, reported, paid) in fees.items():
            h = Handoff(dossier_code=f"COD-261110-{n}", direction="result_delivery",
                        source_item_id=f"cod-{n}", agency_code=DESK_AGENCY[0],
                        agency_name=DESK_AGENCY[1], cod_amount=expected, status="delivered",
                        order_number=f"COD-261110-{n}/R1", ready_at=at, final_at=at,
                        citizen_name="Nguyễn Văn An", citizen_phone="0912345678")
            s.add(h)
            s.flush()
            s.add(CodLedger(handoff_id=h.id, collected_at=at, collected_event=f"c{n}",
                            collected_amount=reported, remitted_at=at if paid else None,
                            remitted_event=f"r{n}" if paid else None,
                            remitted_amount=reported if paid else None))
    db.dispose()
    login(page, web_stack, "ops")
    page.goto(web_stack.web_url + "ops/cod?month=2026-11")
    rows = page.locator("tr.differs")
    assert rows.count() == 2
    first_two = rows.all_inner_texts()
    assert any("COD-261110-0003" in r for r in first_two)
    assert any("COD-261110-0002" in r for r in first_two)
    assert rows.first.locator("td").first.evaluate(
        "e => getComputedStyle(e).backgroundColor") == "rgb(255, 242, 204)"
    page.screenshot(path=str(artifacts / "ops-cod.png"), full_page=True)
