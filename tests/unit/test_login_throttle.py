"""Password guessing is slowed in the database, before any password is checked: per
username and address, per address, per username from everywhere; the table stays small."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from tests.web_app import csrf
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import LoginAttempt
from worker.service.access import login_throttle as throttle
from worker.service.access import push_throttle
from worker.service.access.users import add_user
from worker.settings import Settings
from worker.web.app import create_app

# the throttle's rules on a real database of many rows, and through the web app
pytestmark = pytest.mark.flows

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
PASSWORD = "the-right-password"


def _admit(db: Database, user: str, addr: str, seconds: float = 0, **kw: object
           ) -> throttle.Admission:
    return throttle.admit(db, user, addr, now=T0 + timedelta(seconds=seconds),
                          **kw)  # type: ignore[arg-type]


def _rows(db: Database) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(LoginAttempt)) or 0)


def test_five_tries_lock_one_username_from_one_address_for_a_minute(sqlite_db) -> None:
    assert all(_admit(sqlite_db, "ops", "10.0.0.1", i).allowed for i in range(5))
    refused = _admit(sqlite_db, "OPS", "10.0.0.1", 10)  # the same name, whatever its case
    assert not refused.allowed and 49 <= refused.wait_seconds <= 50
    assert _admit(sqlite_db, "ops", "10.0.0.2", 10).allowed  # staff elsewhere still log in
    assert _admit(sqlite_db, "desk", "10.0.0.1", 10).allowed
    assert not _admit(sqlite_db, "ops", "10.0.0.1", 59).allowed
    assert _admit(sqlite_db, "ops", "10.0.0.1", 61).allowed  # the first try aged out


def test_refused_tries_check_nothing_and_do_not_prolong_the_lock(sqlite_db) -> None:
    for i in range(5):
        _admit(sqlite_db, "ops", "10.0.0.1", i)
    assert not any(_admit(sqlite_db, "ops", "10.0.0.1", 30 + i / 10).allowed
                   for i in range(100))
    assert _admit(sqlite_db, "ops", "10.0.0.1", 65).allowed


def test_a_success_forgives_the_pair_but_not_the_address(sqlite_db) -> None:
    tries = [_admit(sqlite_db, "ops", "10.0.0.1", i) for i in range(4)]
    throttle.succeeded(sqlite_db, tries[-1], "ops", "10.0.0.1")
    assert all(_admit(sqlite_db, "ops", "10.0.0.1", 5 + i).allowed for i in range(5))
    assert not _admit(sqlite_db, "ops", "10.0.0.1", 11).allowed
    # the address still carries its 3 earlier failures plus these 5 (one success: none)
    assert all(_admit(sqlite_db, f"name{i}", "10.0.0.1", 12).allowed for i in range(12))
    assert not _admit(sqlite_db, "another", "10.0.0.1", 13).allowed


def test_one_address_spraying_usernames_is_stopped(sqlite_db) -> None:
    assert all(_admit(sqlite_db, f"user{i}", "203.0.113.9", i).allowed for i in range(20))
    refused = _admit(sqlite_db, "user-21", "203.0.113.9", 30)
    assert not refused.allowed and 269 <= refused.wait_seconds <= 270
    assert _admit(sqlite_db, "user-21", "203.0.113.10", 30).allowed


def _hammer(db: Database, user: str, networks: list[str], until: int) -> int:
    """Guesses at `user` from 4 addresses in each network, every 10 s for `until` seconds;
    returns how many were checked (each a failure)."""
    checked = 0
    for t in range(0, until, 10):
        for net in networks:
            checked += sum(_admit(db, user, f"{net}.{host}", t).allowed for host in range(4))
    return checked


def test_attackers_in_three_networks_never_lock_out_staff_at_a_fourth(sqlite_db) -> None:
    checked = _hammer(sqlite_db, "ops", ["198.51.100", "203.0.113", "192.0.2"], 900)
    # their networks had failed long before the username's limit: no guess over it
    assert checked == 100, checked
    assert not _admit(sqlite_db, "ops", "198.51.100.200", 895).allowed  # a fresh address there
    staff = [_admit(sqlite_db, "ops", "10.20.0.7", 895 + i / 10) for i in range(3)]
    assert all(a.allowed for a in staff)  # two typos, then the right password
    throttle.succeeded(sqlite_db, staff[2], "ops", "10.20.0.7")  # forgives the network too
    colleague = [_admit(sqlite_db, "ops", "10.20.0.8", 896 + i / 10).allowed for i in range(4)]
    assert colleague == [True, True, True, False]  # a clean network: 3 tries, then waits
    assert _admit(sqlite_db, "desk", "198.51.100.7", 896).allowed  # other names untouched


def test_a_network_full_of_addresses_gets_three_guesses_over_the_username_limit(
        sqlite_db) -> None:
    for i in range(101):
        _admit(sqlite_db, "ops", f"198.51.{i % 50}.1", i)  # 101 failures from 50 networks
    extra = [_admit(sqlite_db, "ops", f"203.0.113.{host}", 200).allowed for host in range(256)]
    assert sum(extra) == 3
    v6 = [_admit(sqlite_db, "ops", throttle.client_key(f"2001:db8:7:{n:x}::1"), 200).allowed
          for n in range(300)]  # 300 different /64s of one /48
    assert sum(v6) == 3


def test_one_stranger_alone_never_locks_a_username_for_staff_elsewhere(sqlite_db) -> None:
    # as fast as he likes for 15 minutes: his pair and address limits stop him long before
    # his failures could reach the username's limit
    checked = sum(_admit(sqlite_db, "ops", "203.0.113.9", t).allowed for t in range(0, 900, 3))
    assert checked <= 60
    assert _admit(sqlite_db, "ops", "10.1.1.1", 900).allowed


def test_the_table_stays_bounded(sqlite_db) -> None:
    for i in range(40):
        _admit(sqlite_db, f"u{i}", f"192.0.2.{i}", i, max_rows=30)
    assert _rows(sqlite_db) <= 30
    _admit(sqlite_db, "later", "192.0.2.200", 16 * 60 + 40)  # all earlier rows aged out
    assert _rows(sqlite_db) == 4


def _keys(db: Database) -> list[str]:
    with db.unit_of_work() as s:
        return sorted(s.scalars(select(LoginAttempt.key)))


def test_a_flood_at_the_push_door_leaves_the_login_counts(database: Database) -> None:
    """Each door has its own budget of rows: wrong carrier pushes past the push door's
    budget delete the push door's oldest rows, never the logins', so a lock stays."""
    assert all(_admit(database, "ops", "203.0.113.9", i).allowed for i in range(5))
    logins = _keys(database)
    push_limits = push_throttle.limits(Settings(database_url=database.url))
    for i in range(40):  # a stranger's codes from many addresses: 4 rows a push, 160 in all
        assert throttle.admit(database, f"000.00.{i:02d}.X99", f"198.51.100.{i}",
                              now=T0 + timedelta(seconds=5 + i), limits=push_limits,
                              door=push_throttle.DOOR, max_rows=40).allowed
    kept = _keys(database)
    pushes = [k for k in kept if k.startswith(push_throttle.DOOR)]
    assert len(pushes) == 40 and "push:user:000.00.39.x99" in pushes  # the newest kept
    assert [k for k in kept if not k.startswith(push_throttle.DOOR)] == logins
    refused = _admit(database, "ops", "203.0.113.9", 50)  # still within the lock's minute
    assert not refused.allowed and 9 <= refused.wait_seconds <= 10


def test_addresses_are_counted_as_a_network_would_hand_them_out() -> None:
    assert throttle.client_key("2001:db8:1:2:aaaa::1") == throttle.client_key("2001:db8:1:2::9")
    assert throttle.client_key("2001:db8:1:2::1") != throttle.client_key("2001:db8:1:3::1")
    assert throttle.client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.client_key(None) == "unknown"
    assert throttle.keys("op\x00s\ud800", "1.2.3.4")["user"] == "user:op\ufffds\ufffd"
    assert throttle.network_of("192.0.2.77") == "192.0.2.0/24"
    assert throttle.network_of(throttle.client_key("2001:db8:1:2::1")) == "2001:db8:1::/48"
    assert throttle.network_of("unknown") == "unknown"


# Through the real app: two app instances on one database stand for two web processes.

@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    url = (f"sqlite:///{tmp_path / 'web.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    upgrade(url)
    return url


@pytest.fixture
def apps(db_url: str, tmp_path) -> Iterator[list[object]]:
    dbs = [Database(db_url), Database(db_url)]
    with dbs[0].unit_of_work() as s:
        add_user(s, "ops", PASSWORD, "ops")
    yield [create_app(build_runtime(settings=Settings(database_url=db_url, home=tmp_path / "h"),
                                    db=db)) for db in dbs]
    for db in dbs:
        db.dispose()


def _browser(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def _try(client: httpx.AsyncClient, password: str, token: str = "") -> httpx.Response:
    token = token or csrf((await client.get("/login")).text)
    return await client.post("/login", data={"csrf": token, "username": "ops",
                                              "password": password})


def test_100_parallel_wrong_passwords_check_at_most_five(apps) -> None:
    async def run() -> tuple[Counter[int], httpx.Response]:
        browsers = [_browser(app, "203.0.113.9") for app in apps]
        tokens = [csrf((await b.get("/login")).text) for b in browsers]
        answers = await asyncio.gather(*(
            _try(browsers[i % 2], f"wrong-{i}", tokens[i % 2]) for i in range(100)))
        codes = Counter(r.status_code for r in answers)
        # tries refused in the burst may have kept a few others out too: use up the rest
        for i in range(5 - codes[401]):
            assert (await _try(browsers[1], f"later-{i}", tokens[1])).status_code == 401
        right = await _try(browsers[0], PASSWORD, tokens[0])
        for b in browsers:
            await b.aclose()
        return codes, right

    codes, right = asyncio.run(run())
    assert set(codes) <= {401, 429} and 1 <= codes[401] <= 5, codes  # 401: a checked password
    assert right.status_code == 429  # five checked failures: even the right password waits
    assert re.search(r"thử lại sau \d+ giây", right.text), right.text


def test_a_lock_from_one_address_leaves_staff_elsewhere_alone(apps) -> None:
    async def run() -> list[int]:
        stranger, staff = _browser(apps[0], "203.0.113.9"), _browser(apps[1], "10.20.0.7")
        codes = [(await _try(stranger, f"guess-{i}")).status_code for i in range(6)]
        codes.append((await _try(stranger, PASSWORD)).status_code)
        codes.append((await _try(staff, PASSWORD)).status_code)
        codes.append((await staff.get("/ops")).status_code)
        await stranger.aclose()
        await staff.aclose()
        return codes

    assert asyncio.run(run()) == [401] * 5 + [429, 429, 303, 200]


def test_attackers_in_three_networks_leave_staff_at_a_fourth_able_to_log_in(apps) -> None:
    db = apps[0].state.runtime.db
    nets = ["198.51.100", "203.0.113", "192.0.2"]
    for i in range(100):  # what 100 wrong passwords leave: each counted, then a failure
        assert throttle.admit(db, "ops", f"{nets[i % 3]}.{i // 15}").allowed

    async def run() -> list[int]:
        attacker, staff = _browser(apps[0], "203.0.113.250"), _browser(apps[1], "10.20.0.7")
        codes = [(await _try(attacker, PASSWORD)).status_code,  # the name is locked there
                 (await _try(staff, PASSWORD)).status_code, (await staff.get("/ops")).status_code]
        await attacker.aclose()
        await staff.aclose()
        return codes

    assert asyncio.run(run()) == [429, 303, 200]


def test_an_untrusted_proxy_in_front_is_told_once_in_the_log(web_app, caplog) -> None:
    forwarded = {"x-forwarded-for": "198.51.100.7"}  # uvicorn did not trust the sender
    with caplog.at_level(logging.WARNING, logger="worker.web.auth"):
        for _ in range(2):
            page = web_app.client.get("/login")
            web_app.client.post("/login", headers=forwarded, data={
                "csrf": csrf(page.text), "username": "ops", "password": "wrong-password"})
    told = [r.getMessage() for r in caplog.records if "FORWARDED_ALLOW_IPS" in r.getMessage()]
    assert len(told) == 1 and "testclient" in told[0], told
