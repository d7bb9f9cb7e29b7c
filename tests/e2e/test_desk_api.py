"""The desk API against the running stack: batch pickups order each dossier once, cancel;
tokens made and revoked with `handoff token`, each action recorded under its token's name."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
import pytest

from simulators.onestop.data import ItemFactory
from tests.e2e.helpers import DESK_AGENCY, agency_items, api_auth, pending_codes, posts_closed
from tests.support.waits import wait_for
from worker.launch.stack import Stack


def status_of(stack: Stack, code: str) -> str:
    out = stack.run("status", code, "--json")
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)[0]["status"])


def post_pickups(stack: Stack, codes: list[str], **kw: Any) -> httpx.Response:
    return httpx.post(stack.web_url + "api/v1/pickups", json={"dossierCodes": codes},
                      headers=kw.pop("headers", None) or api_auth(stack), timeout=120, **kw)


@pytest.fixture(scope="module")
def seeded(web_stack: Stack) -> dict[str, Any]:
    """47 valid hand-offs waiting at the desk, one invalid one, on a slow carrier clock."""
    # no return or pickup-fail paths; the courier comes only when the test advances time
    web_stack.carrier_admin("faults", {"return_rate": 0, "pickup_fail_rate": 0, "speed": 1})
    factory = ItemFactory(random.Random(17))
    good = agency_items(factory, 47)
    bad = agency_items(factory, 1, defect="missing_phone")
    web_stack.onestop_admin("handoffs", {"items": good + bad})
    codes = [i["dossierCode"] for i in good]
    wait_for(lambda: set(codes) <= pending_codes(web_stack), "47 waiting hand-offs", 90)
    return {"codes": codes, "invalid": bad[0]["dossierCode"]}


def test_batch_of_50_with_3_bad_orders_47_once_and_refuses_3(web_stack, seeded):
    codes = seeded["codes"]
    bad = ["000.00.17.H19/bad", "000.00.17.H19-010199-9999", seeded["invalid"]]
    started = time.monotonic()
    r = post_pickups(web_stack, codes + bad)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["dossierCode"] for x in results] == codes + bad
    assert len(results) == 50
    assert [x["outcome"] for x in results[:47]] == ["ordered"] * 47
    for x in results[47:]:
        assert x["outcome"] == "refused" and x["reason"], x
    assert "cần sửa" in results[49]["reason"]
    print(f"50 codes answered in {time.monotonic() - started:.2f}s")

    again = post_pickups(web_stack, codes + bad).json()["results"]
    assert not [x for x in again if x["outcome"] == "ordered"]
    assert {x["outcome"] for x in again[:47]} == {"already_ordered"}
    assert {x["outcome"] for x in again[47:]} == {"refused"}

    wait_for(lambda: web_stack.carrier_admin("stats")["orders"] >= 47, "47 orders", 90)
    # a second courier trip could only come from a post job not yet done
    wait_for(lambda: posts_closed(web_stack, set(codes)), "47 post jobs done", 60)
    stats = web_stack.carrier_admin("stats")
    assert stats["orders"] == 47
    assert set(stats["orders_by_number"]) == {f"{c}/R1" for c in codes}
    assert not pending_codes(web_stack) & set(codes)
    # the status log says which token called the courier
    notes = [e["notes"] for t in json.loads(web_stack.run("status", codes[0], "--json").stdout)
             for e in t["events"]]
    assert any("api:e2e-lai-vung" in n for n in notes), notes


def test_requests_without_the_token_are_refused(web_stack):
    url = web_stack.web_url + "api/v1/pickups"
    assert httpx.post(url, json={"dossierCodes": []}).status_code == 401
    assert httpx.post(url, json={"dossierCodes": ["x"]},
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url + "/pending", headers={"Authorization": "Basic abc"}).status_code == 401
    assert httpx.post(url + "/x/cancel").status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "body"),
    (b"[1, 2]", "body"),
    (b"{}", "dossierCodes"),
    (b'{"dossierCodes": "000.00.17.H19-010125-0001"}', "dossierCodes"),
    (b'{"dossierCodes": [1, 2]}', "dossierCodes[0]"),
    (b'{"dossierCodes": ["a", "b", "c", "x\\ud800"]}', "dossierCodes[3]"),
    (b'{"dossierCodes": ["a", "x\\u0000"]}', "dossierCodes[1]"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "body", id="nested-100000-deep"),
    (json.dumps({"dossierCodes": [f"c{i}" for i in range(501)]}).encode(), "dossierCodes"),
    (b'{"dossierCodes": ["a"], "agencyCode": 5}', "agencyCode"),
])
def test_malformed_bodies_get_422_naming_the_field(web_stack, body, field):
    r = httpx.post(web_stack.web_url + "api/v1/pickups", content=body,
                   headers={**api_auth(web_stack), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["reason"]


def test_cancel_before_the_courier_came_ends_cancelled(web_stack, seeded):
    code = seeded["codes"][-1]
    post_pickups(web_stack, [code])  # ordered now or by the first test
    r = httpx.post(web_stack.web_url + f"api/v1/pickups/{code}/cancel",
                   headers=api_auth(web_stack), timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] in ("cancelled", "cancel_requested")
    wait_for(lambda: status_of(web_stack, code) == "cancelled", f"{code} cancelled", 60)


def test_cancel_after_pickup_is_refused_in_plain_words(web_stack, seeded):
    code = seeded["codes"][0]
    post_pickups(web_stack, [code])
    wait_for(lambda: status_of(web_stack, code) == "accepted", f"{code} accepted", 60)
    web_stack.carrier_admin("advance", {"seconds": 7200})  # the courier comes (code 1)
    wait_for(lambda: status_of(web_stack, code) not in ("accepted", "requested"),
             f"{code} picked up", 60)
    assert status_of(web_stack, code) in ("picked_up", "in_transit")
    r = httpx.post(web_stack.web_url + f"api/v1/pickups/{code}/cancel",
                   headers=api_auth(web_stack), timeout=60)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["outcome"] == "refused"
    assert "bưu tá đã nhận hồ sơ" in body["reason"]
    unknown = httpx.post(web_stack.web_url + "api/v1/pickups/000.00.17.H19-010199-9998/cancel",
                         headers=api_auth(web_stack), timeout=60)
    assert unknown.status_code == 409 and unknown.json()["reason"]


def test_another_agencys_token_cannot_touch_our_dossiers_and_a_revoked_token_stops_at_once(
        web_stack, seeded):
    code = seeded["codes"][1]
    theirs = api_auth(web_stack, "e2e-other", "000.00.18.H20")
    refused = post_pickups(web_stack, [code], headers=theirs).json()["results"][0]
    # answered as an unknown dossier: another agency never learns that the code exists
    assert (refused["outcome"], refused["reason"]) == (
        "refused", "không có hồ sơ này trong danh sách gửi bưu chính")
    r = httpx.post(web_stack.web_url + "api/v1/pickups", headers=theirs, timeout=60,
                   json={"dossierCodes": [code], "agencyCode": DESK_AGENCY[0]})
    assert r.status_code == 403 and r.json()["field"] == "agencyCode"
    assert web_stack.run("token", "revoke", "e2e-other").returncode == 0
    r = httpx.get(web_stack.web_url + "api/v1/pickups/pending", headers=theirs, timeout=60)
    assert r.status_code == 401 and "thu hồi" in r.json()["reason"]
    listed = {t["name"]: t for t in json.loads(web_stack.run("token", "list", "--json").stdout)}
    assert listed["e2e-other"]["last_used"] != "-" and listed["e2e-other"]["revoked"] != "-"
