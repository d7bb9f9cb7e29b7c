"""The carrier simulator's quota meter (simulators/carrier/quota.py): requests counted per
account through both doors, the most in any sliding second, and 429s for one account only."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from integrations.carriers.vnpost import wire
from integrations.carriers.vnpost.routes import lgsp_wire
from simulators.carrier.app import create_app
from simulators.carrier.quota import QuotaMeter
from simulators.carrier.rules import SimConfig
from simulators.carrier.store import SimStore
from tests.support.waits import wait_for

KEYS = {"key-a": ["secret-a", "C0001"], "key-b": ["secret-b", "C0002"]}


@pytest.fixture
def client():
    with TestClient(create_app(SimConfig(accounts=dict(KEYS)))) as c:
        yield c


def token(client: TestClient, key: str, path: str = wire.TOKEN_PATH) -> httpx.Response:
    return client.post(f"/{path}", data={"grant_type": "client_credentials"},
                       auth=(key, KEYS[key][0]))


def feed(client: TestClient, value: str) -> httpx.Response:
    return client.get(f"/{wire.TRACKING_PATH}", headers={"Authorization": f"Bearer {value}"},
                      params={"pagesize": 10, "lastId": wire.FIRST_CURSOR})


def quota(client: TestClient) -> dict:
    return client.get("/_admin/quota").json()


def test_requests_are_counted_per_account_through_both_doors(client):
    a = token(client, "key-a").json()["access_token"]
    b = token(client, "key-b", "lgsp/token").json()["access_token"]
    for _ in range(3):
        assert feed(client, a).status_code == 200
    lgsp = client.get("/lgsp", headers={lgsp_wire.TOKEN_HEADER: b},
                      params={"service": lgsp_wire.TRACKING_SERVICE, "pagesize": 10,
                              "lastId": wire.FIRST_CURSOR})
    assert lgsp.status_code == 200
    assert feed(client, "no-such-token").status_code == 401
    assert client.get("/healthz").status_code == 200  # not a contract request

    counted = quota(client)["accounts"]
    assert {k: v["requests"] for k, v in counted.items()} == {"key-a": 4, "key-b": 2, "?": 1}
    assert counted["key-a"]["max_per_second"] == 4  # all within the same second here
    assert all(v["throttled"] == 0 for v in counted.values())


def test_one_account_held_with_429_and_retry_after_the_other_served(client):
    a = token(client, "key-a").json()["access_token"]
    b = token(client, "key-b").json()["access_token"]
    set_ = client.post("/_admin/quota", json={"throttle": {"key-a": {"seconds": 30,
                                                                      "retry_after": 2}}})
    assert set_.status_code == 200 and set_.json()["throttle"]["key-a"]["retry_after"] == 2
    refused = feed(client, a)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert token(client, "key-a").status_code == 429  # token requests of that account too
    assert feed(client, b).status_code == 200

    counted = quota(client)["accounts"]
    assert (counted["key-a"]["throttled"], counted["key-a"]["requests"]) == (2, 3)
    assert counted["key-b"]["throttled"] == 0

    client.post("/_admin/quota", json={"throttle": {"key-a": None}})
    assert feed(client, a).status_code == 200
    client.post("/_admin/reset")  # the simulator's reset clears the meter as well
    view = quota(client)
    assert {k: view[k] for k in ("accounts", "throttle", "limit_per_s", "outage")} == {
        "accounts": {}, "throttle": {}, "limit_per_s": {}, "outage": None}
    assert set(view["loop_stalls"]) == {"count", "longest_s"}  # the list only with times=1


def test_a_per_account_rate_answers_429_above_it(client):
    a = token(client, "key-a").json()["access_token"]  # 1 request of key-a so far
    client.post("/_admin/quota", json={"limit_per_s": {"key-a": 3}})
    statuses = [feed(client, a).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert int(feed(client, a).headers["retry-after"]) >= 1
    b = token(client, "key-b").json()["access_token"]
    assert [feed(client, b).status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize("body", [
    {"throttle": {"key-a": {"seconds": "long"}}}, {"limit_per_s": {"key-a": -1}},
    {"speed": 3}, ["throttle"], {"throttle": {"key-a": 5}}])
def test_bad_admin_bodies_change_nothing(client, body):
    r = client.post("/_admin/quota", json=body)
    assert r.status_code == 400 and "error" in r.json()
    assert quota(client)["throttle"] == {} and quota(client)["limit_per_s"] == {}


def test_the_most_in_any_sliding_second():
    now = [0.0]
    meter = QuotaMeter(create_app(), SimStore(SimConfig()), clock=lambda: now[0])
    # 3 at 0.0-0.2, 3 at 0.9-0.95: six within one second although no whole second holds them
    for t in (0.0, 0.1, 0.2, 0.9, 0.92, 0.95, 1.5, 2.6, 3.6, 4.6):
        now[0] = t
        assert meter.arrive("key-a") is None
    assert meter.view()["accounts"]["key-a"] == {"requests": 10, "max_per_second": 6,
                                                 "throttled": 0, "unavailable": 0,
                                                 "early": 0}
    times = meter.view(times=True)["accounts"]["key-a"]["times"]
    assert times[:3] == [0.0, 0.1, 0.2] and len(times) == 10
    now[0] = 10.0
    meter.arrive("key-a")
    now[0] = 11.0  # exactly one second apart: never in the same window
    meter.arrive("key-a")
    assert meter.view()["accounts"]["key-a"]["max_per_second"] == 6


def test_an_outage_answers_503_with_retry_after_to_every_account_until_it_ends(client):
    a = token(client, "key-a").json()["access_token"]
    set_ = client.post("/_admin/quota", json={"outage": {"seconds": 30, "retry_after": 7}})
    assert set_.status_code == 200 and set_.json()["outage"]["retry_after"] == 7
    down = feed(client, a)
    assert down.status_code == 503 and down.headers["retry-after"] == "7"
    assert token(client, "key-b").status_code == 503  # token requests too, every account
    assert feed(client, a).status_code == 503
    counted = quota(client)["accounts"]
    assert counted["key-a"]["unavailable"] == 2 and counted["key-b"]["unavailable"] == 1
    assert counted["key-a"]["early"] == 0  # the second came at once: in flight, not early
    assert counted["key-b"]["early"] == 0
    client.post("/_admin/quota", json={"outage": None})
    assert feed(client, a).status_code == 200 and quota(client)["outage"] is None


def test_early_requests_and_post_times_are_recorded_against_the_retry_after_given():
    now = [0.0]
    meter = QuotaMeter(create_app(), SimStore(SimConfig()), clock=lambda: now[0])
    meter.configure({"outage": {"seconds": 10, "retry_after": 3}})
    answers = []
    for t, post in ((0.0, True), (0.3, False), (1.0, False), (4.5, True), (10.5, True)):
        now[0] = t
        answers.append(meter.arrive("key-a", post=post))
    assert [r.status_code if r else None for r in answers] == [503, 503, 503, 503, None]
    seen = meter.view(times=True)["accounts"]["key-a"]
    # at 0.3 the refusal at 0.0 could not have been read yet (in flight); 1.0 came after the
    # refusal at 0.3 was read (0.3 + 0.5) and before its Retry-After ran out (0.3 + 3)
    assert (seen["unavailable"], seen["early"]) == (4, 1)
    assert seen["post_times"] == [0.0, 4.5, 10.5]


def test_the_meter_records_its_own_event_loop_stalls():
    """A handler that holds the loop 120 ms: arrivals behind it would be stamped late,
    together; the view says so (what chaos scenario 13 reports beside its busiest second)."""
    import time

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def blocking(request):
        time.sleep(0.12)  # noqa: ASYNC251 - the stall under test
        return PlainTextResponse("done")

    async def quick(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/block", blocking), Route("/quick", quick)])
    app.add_middleware(QuotaMeter, store=SimStore(SimConfig(accounts=dict(KEYS))))
    with TestClient(app) as c:
        assert c.get("/quick").status_code == 200  # (a server without lifespan: from here)
        assert c.get("/block").status_code == 200
        seen: list[dict] = [{}]

        def noted() -> bool:  # the watcher notes the stall on its next tick
            seen[0] = c.get("/_admin/quota", params={"times": "1"}).json()["loop_stalls"]
            return seen[0]["longest_s"] >= 0.09

        wait_for(noted, "the watcher's note of the stall", 5, every=0.02, seen=lambda: seen[0])
        stalls = seen[0]
    # (a loaded machine may add stalls of its own: at least the one made here)
    assert stalls["count"] >= 1 and stalls["longest_s"] >= 0.09, stalls
    assert any(length >= 0.09 for _, length in stalls["at"]), stalls
