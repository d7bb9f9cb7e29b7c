"""Who may act on which dossier at the desk, over plain HTTP against the running stack:
a clerk acts for their own agency only, every POST needs the CSRF token, and nothing is
served without a login."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator

import httpx
import pytest

from simulators.onestop.data import ItemFactory
from tests.e2e.conftest import USERS
from tests.e2e.helpers import agency_items, pending_codes, web_login
from tests.support.waits import wait_for
from worker.launch.stack import Stack

OTHER_AGENCY = ("000.00.21.H19", "UBND phường Cao Lãnh", 82)  # posts by itself, no desk
UNKNOWN = "không có hồ sơ này trong danh sách gửi bưu chính"


def status_of(stack: Stack, code: str) -> str:
    out = stack.run("status", code, "--json")
    if out.returncode != 0:
        return ""
    found = json.loads(out.stdout)
    return str(found[0]["status"]) if found else ""


@pytest.fixture(scope="module")
def seeded(web_stack: Stack) -> dict[str, str]:
    """One dossier of another agency (already sent to the carrier), one waiting at our desk."""
    web_stack.carrier_admin("faults", {"return_rate": 0, "pickup_fail_rate": 0, "speed": 1})
    factory = ItemFactory(random.Random(23))
    other = agency_items(factory, 1, agency=OTHER_AGENCY)[0]
    mine = agency_items(factory, 1)[0]
    web_stack.onestop_admin("handoffs", {"items": [other, mine]})
    codes = {"other": other["dossierCode"], "mine": mine["dossierCode"]}
    # accepted: it stays so (the carrier's clock runs at speed 1); at `requested` the worker
    # may still move it on while a test compares its status before and after
    wait_for(lambda: status_of(web_stack, codes["other"]) == "accepted",
             "the other agency's hand-off", 90)
    wait_for(lambda: codes["mine"] in pending_codes(web_stack), "our waiting hand-off", 90)
    return codes


@pytest.fixture
def desk_client(web_stack: Stack) -> Iterator[tuple[httpx.Client, str]]:
    username, password = USERS["desk"][0], USERS["desk"][1]
    client, token = web_login(web_stack, username, password)
    try:
        yield client, token
    finally:
        client.close()


def _outcome(html: str, code: str) -> tuple[str, str]:
    found = re.search(rf'data-code="{re.escape(code)}" data-outcome="([a-z_]+)">(.*?)</li>',
                      html, re.S)
    assert found, html
    return found.group(1), " ".join(found.group(2).split())


def test_clerk_cannot_order_another_agencys_dossier(web_stack, seeded, desk_client) -> None:
    client, token = desk_client
    before = status_of(web_stack, seeded["other"])
    r = client.post("/desk/pickups", data={"csrf": token, "code": seeded["other"]})
    assert r.status_code == 200
    outcome, text = _outcome(r.text, seeded["other"])
    assert outcome == "refused" and UNKNOWN in text  # as if it did not exist
    assert status_of(web_stack, seeded["other"]) == before


def test_clerk_cannot_cancel_another_agencys_dossier(web_stack, seeded, desk_client) -> None:
    client, token = desk_client
    r = client.post("/desk/cancel", data={"csrf": token, "code": seeded["other"]})
    assert r.status_code == 200
    outcome, text = _outcome(r.text, seeded["other"])
    assert outcome == "refused" and UNKNOWN in text  # as if it did not exist
    assert status_of(web_stack, seeded["other"]) != "cancelled"


@pytest.mark.parametrize("path", ["/desk/pickups", "/desk/cancel"])
def test_posts_without_the_csrf_token_are_refused(web_stack, seeded, desk_client,
                                                  path) -> None:
    client, token = desk_client
    for data in ({"code": seeded["mine"]}, {"code": seeded["mine"], "csrf": "not-the-token"}):
        r = client.post(path, data=data)
        assert r.status_code == 403
        assert "biểu mẫu không hợp lệ" in r.text
    # nothing happened: still waiting at the desk
    assert seeded["mine"] in pending_codes(web_stack)
    assert status_of(web_stack, seeded["mine"]) == "requested"


def test_pending_json_needs_a_login(web_stack) -> None:
    r = httpx.get(web_stack.web_url + "desk/pending.json", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


def test_logout_needs_post_and_the_token(web_stack, desk_client) -> None:
    client, token = desk_client
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/desk").status_code == 200
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    assert client.get("/desk").status_code == 303


def test_a_cookie_copied_before_logout_cancels_nothing(web_stack, seeded, desk_client) -> None:
    client, token = desk_client
    copied = client.cookies["handoff_session"]
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    with httpx.Client(base_url=web_stack.web_url, follow_redirects=False, timeout=60,
                      headers={"cookie": f"handoff_session={copied}"}) as thief:
        assert thief.get("/desk").status_code == 303
        r = thief.post("/desk/cancel", data={"csrf": token, "code": seeded["mine"]})
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert seeded["mine"] in pending_codes(web_stack)
    assert status_of(web_stack, seeded["mine"]) == "requested"
