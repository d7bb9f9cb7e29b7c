"""The pages work under their Content-Security-Policy in a real browser: styles load from
/static, the scripts run, and Chromium reports no blocked inline code."""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import func, select

from simulators.onestop.data import ItemFactory
from tests.e2e.conftest import login
from tests.e2e.helpers import DESK_AGENCY, agency_items
from tests.support.waits import wait_for
from worker.db.engine import Database
from worker.db.models import Handoff
from worker.launch.stack import Stack

PAGES = ["desk", "ops", "ops/handoffs", "ops/search?q=0912345678", "ops/dead", "settings",
         "ops/handoffs/999999"]


def test_every_page_renders_under_the_policy_without_violations(
        web_stack: Stack, page, artifacts: Path) -> None:
    # a dossier waiting at the desk (desk dispatch), so the agency filter has a choice
    item = agency_items(ItemFactory(random.Random(11)), 1)[0]
    web_stack.onestop_admin("handoffs", {"items": [item]})
    db = Database(f"sqlite:///{(web_stack.home / 'handoff.db').resolve()}")

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
