"""Route B (the province's LGSP) against the carrier simulator on loopback, and both routes
with their own accounts on one simulator: each order goes with its own credentials."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from tenacity import wait_none

from integrations.carriers.vnpost import s10
from integrations.carriers.vnpost.routes.lgsp import LgspClient, LgspDoor
from integrations.carriers.vnpost.routes.ngsp import NgspClient
from simulators.carrier.app import SimConfig, serve_in_thread
from tests.integration.test_carrier_client import make_order
from worker.domain.enums import Route
from worker.domain.errors import CancelRefused, PermanentError, TransientError
from worker.domain.model import CarrierAccount
from worker.domain.statuses import Status
from worker.launch.stack import free_port, release_port, wait_http

LGSP_ACCOUNT = CarrierAccount(Route.LGSP, "C0002", "lgsp-key", "lgsp-secret-MARKER")
NGSP_ACCOUNT = CarrierAccount(Route.NGSP, "C0003", "ngsp-key", "ngsp-secret-MARKER")
DEMO_ACCOUNT = CarrierAccount(Route.NGSP, "C0001", "demo-key", "demo-secret")
ACCOUNTS = {a.customer_key: [a.secret_key, a.customer_code] for a in (LGSP_ACCOUNT, NGSP_ACCOUNT)}


def door(base: str, token_path: str = "lgsp/token") -> LgspDoor:
    return LgspDoor(base + token_path, base + "lgsp")


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    base_url, stop = serve_in_thread(SimConfig(seed=7, return_rate=0.0, pickup_fail_rate=0.0,
                                               accounts=ACCOUNTS))
    yield base_url
    stop()


@pytest.fixture
def lgsp(sim, admin) -> Iterator[LgspClient]:
    # 10 s, not 2: a token request timed out on a loaded machine (the simulator is a thread
    # of this process) is sent again and counted; the likely cause of one clean-clone run's
    # token_requests 3 in test_401_refreshes_once_with_the_access_token_header
    c = LgspClient(door(sim), LGSP_ACCOUNT, timeout=10.0, wait=wait_none())
    yield c
    c.close()


def lgsp_token(sim: str) -> str:
    reply = httpx.post(f"{sim}lgsp/token", data={"grant_type": "client_credentials"},
                       auth=(LGSP_ACCOUNT.customer_key, LGSP_ACCOUNT.secret_key))
    reply.raise_for_status()
    return reply.json()["access_token"]


def test_post_answers_string_statuses_100_then_101(lgsp, sim, admin):
    assert lgsp.post_order(make_order(1)).already_existed is False
    assert lgsp.post_order(make_order(1)).already_existed is True
    # what the wire carried: Status as a string, the token in the access_token header
    raw = httpx.post(f"{sim}lgsp", params={"service": "vnpost.order.post"},
                     headers={"access_token": lgsp_token(sim)}, json={"CustomerCode": "C0002"})
    assert raw.status_code == 200 and raw.json()["Status"] == "102"
    stats = admin("_admin/stats")
    assert (stats["orders"], stats["repeat_posts"], stats["duplicates"]) == (1, 1, 0)
    number = make_order(1).order_number
    assert stats["orders_by_number"][number]["route"] == "lgsp"
    assert stats["orders_by_number"][number]["account"] == "lgsp-key"


def test_tracking_pages_the_accounts_feed(lgsp, admin):
    lgsp.post_order(make_order(1))
    lgsp.post_order(make_order(2))
    admin("_admin/advance", {"seconds": 20 * 3600})
    events, cursor = [], None
    while (page := lgsp.fetch_events(cursor, page_size=3)).events:
        events += page.events
        cursor = page.last_id
    assert len(events) == 10 and events[-1].status == Status.DELIVERED
    assert all(s10.is_valid_s10(e.item_code or "") for e in events)


def test_cancel_before_pickup_then_refused_after(lgsp, admin):
    lgsp.post_order(make_order(1))
    assert lgsp.cancel_order(make_order(1).order_number)
    lgsp.post_order(make_order(2))
    admin("_admin/advance", {"seconds": 2 * 3600})
    with pytest.raises(CancelRefused) as info:
        lgsp.cancel_order(make_order(2).order_number)
    assert info.value.code == "104"  # came as the string "104"


def test_401_refreshes_once_with_the_access_token_header(lgsp, sim, admin):
    lgsp.post_order(make_order(1))
    admin("_admin/revoke-tokens", {})
    assert lgsp.post_order(make_order(2)).already_existed is False
    assert lgsp.token_requests == 2
    # route A's header is no key to route B's gateway
    bearer = httpx.get(f"{sim}lgsp", params={"service": "vnpost.order.tracking"},
                       headers={"Authorization": f"Bearer {lgsp_token(sim)}"})
    assert bearer.status_code == 401


def test_expired_token_after_refresh_is_transient(lgsp, admin):
    admin("_admin/faults", {"token_ttl": 0})
    with pytest.raises(TransientError, match="401"):
        lgsp.fetch_events(None)
    assert lgsp.token_requests == 2


def test_wrong_service_name_is_permanent_404(sim, admin):
    wrong = LgspDoor(f"{sim}lgsp/token", f"{sim}lgsp", post_service="vnpost.order.pots")
    c = LgspClient(wrong, LGSP_ACCOUNT, wait=wait_none())
    with pytest.raises(PermanentError) as info:
        c.post_order(make_order(1))
    assert info.value.code == "HTTP 404"
    assert admin("_admin/stats")["posts"] == 0


def test_wrong_secret_is_permanent_and_never_shown(sim, admin):
    bad = CarrierAccount(Route.LGSP, "C0002", "lgsp-key", "wrong-secret-MARKER")
    c = LgspClient(door(sim), bad, wait=wait_none())
    with pytest.raises(PermanentError) as info:
        c.fetch_events(None)
    assert "MARKER" not in str(info.value) and "MARKER" not in repr(c)
    assert "MARKER" not in repr(LgspClient(door(sim), LGSP_ACCOUNT))


def test_an_order_must_name_its_own_accounts_customer_code(sim, admin):
    # lgsp-key belongs to C0002: an order naming C0009 with its token is refused
    other = CarrierAccount(Route.LGSP, "C0009", "lgsp-key", LGSP_ACCOUNT.secret_key)
    c = LgspClient(door(sim), other, wait=wait_none())
    with pytest.raises(PermanentError) as info:
        c.post_order(make_order(1))
    assert info.value.code == "102"
    with pytest.raises(CancelRefused):
        c.cancel_order(make_order(1).order_number)


def test_two_routes_two_accounts_on_one_simulator(sim, admin):
    """Each account's orders, token and feed are its own; the admin counts say by whom."""
    routes = {
        "lgsp": LgspClient(door(sim), LGSP_ACCOUNT, wait=wait_none()),
        "ngsp": NgspClient(sim, NGSP_ACCOUNT, wait=wait_none()),
        "demo": NgspClient(sim, DEMO_ACCOUNT, wait=wait_none()),
    }
    for n, client in enumerate(routes.values()):
        client.post_order(make_order(n))
        client.post_order(make_order(10 + n))
    admin("_admin/advance", {"seconds": 2 * 3600})
    stats = admin("_admin/stats")
    assert stats["orders_by_customer"] == {"C0001": 2, "C0002": 2, "C0003": 2}
    assert stats["orders_by_customer_route"] == {
        "C0001": {"ngsp": 2}, "C0002": {"lgsp": 2}, "C0003": {"ngsp": 2}}
    assert stats["token_requests_by_account"] == {"demo-key": 1, "lgsp-key": 1, "ngsp-key": 1}
    # 3 token requests, 6 posts; the token requests of route B at its own door
    assert stats["requests_by_route"] == {"ngsp": 6, "lgsp": 3}
    by_number = stats["orders_by_number"]
    assert {by_number[make_order(n).order_number]["account"] for n in (0, 10)} == {"lgsp-key"}
    assert {by_number[make_order(n).order_number]["account"] for n in (1, 11)} == {"ngsp-key"}
    # an account tied to a customer code reads only its own orders' events
    lgsp_numbers = {e.order_number for e in routes["lgsp"].fetch_events(None).events}
    assert lgsp_numbers == {make_order(0).order_number, make_order(10).order_number}
    assert len({e.order_number for e in routes["demo"].fetch_events(None).events}) == 6
    shown = httpx.get(f"{sim}_admin/faults").text
    assert "MARKER" not in shown
    for client in routes.values():
        client.close()


# --- `handoff simulate carrier --route ...`: one simulator process per route ---------------
@pytest.fixture
def simulate(tmp_path):
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    logs = contextlib.ExitStack()

    def start(*args: str, env: dict[str, str] | None = None) -> str:
        port = free_port()
        ports.append(port)
        log = logs.enter_context(open(tmp_path / f"sim-{port}.log", "wb"))  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "simulate", "carrier", "--port", str(port),
             *args], env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}/"
        wait_http(base + "healthz")
        return base

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
    logs.close()
    for port in ports:
        release_port(port)


@pytest.mark.processes
def test_each_route_on_its_own_simulator_process(simulate):
    env = {"HANDOFF_SIM_CARRIER_ACCOUNTS": "lgsp-key:lgsp-secret-MARKER:C0002"}
    lgsp_base = simulate("--route", "lgsp", env=env)
    ngsp_base = simulate("--route", "ngsp")
    c = LgspClient(door(lgsp_base, "token"), LGSP_ACCOUNT, wait=wait_none())
    assert c.post_order(make_order(1)).already_existed is False
    assert httpx.get(f"{lgsp_base}_admin/stats").json()["orders_by_customer"] == {"C0002": 1}
    assert httpx.post(f"{lgsp_base}apiVNPostNGSP/p1.0/order/post").status_code == 404
    a = NgspClient(ngsp_base, DEMO_ACCOUNT, wait=wait_none())
    assert a.post_order(make_order(2)).already_existed is False
    assert httpx.get(f"{ngsp_base}lgsp").status_code == 404  # route A alone: no LGSP door
    stranger = CarrierAccount(Route.NGSP, "C0002", "lgsp-key", LGSP_ACCOUNT.secret_key)
    with pytest.raises(PermanentError) as info:  # lgsp-key was given to the other one only
        NgspClient(ngsp_base, stranger, wait=wait_none()).fetch_events(None)
    assert info.value.code == "HTTP 401"
    for client in (a, c):
        client.close()
