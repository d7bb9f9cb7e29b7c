"""Sessions against the real app on a temporary SQLite database (no stack, no browser):
they expire, follow the account as the database has it now, and log out by POST only."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from worker.bootstrap import Runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import User
from worker.service.users import add_user
from worker.settings import Settings
from worker.web.app import create_app

PASSWORD = "password-for-tests"


def _client(tmp_path, **settings: object) -> Iterator[tuple[TestClient, Database]]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    db = Database(url)
    with db.unit_of_work() as s:
        add_user(s, "ops", PASSWORD, "ops", full_name="Trần Vận Hành")
        add_user(s, "desk", PASSWORD, "desk", "000.00.17.H19", "Lê Một Cửa")
    rt = Runtime(settings=Settings(database_url=url, **settings), db=db)  # type: ignore[arg-type]
    with TestClient(create_app(rt), follow_redirects=False) as client:
        yield client, db
    db.dispose()


@pytest.fixture
def app(tmp_path) -> Iterator[tuple[TestClient, Database]]:
    yield from _client(tmp_path)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _login(client: TestClient, username: str, next_: str = "") -> httpx.Response:
    page = client.get("/login" + (f"?next={next_}" if next_ else ""))
    return client.post(page.request.url.raw_path.decode(),
                       data={"csrf": _csrf(page.text), "username": username,
                             "password": PASSWORD})


def test_session_expires(tmp_path) -> None:
    for client, _ in _client(tmp_path, session_max_age_seconds=1):
        r = _login(client, "ops")
        assert r.status_code == 303
        assert client.get("/ops").status_code == 200
        time.sleep(2)
        r = client.get("/ops")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_deactivated_user_loses_access_at_once(app) -> None:
    client, db = app
    _login(client, "ops")
    assert client.get("/ops").status_code == 200
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.username == "ops").values(active=False))
    r = client.get("/ops")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    with db.unit_of_work() as s:  # active again: the old cookie was cleared, not revived
        s.execute(update(User).where(User.username == "ops").values(active=True))
    assert client.get("/ops").status_code == 303


def test_role_comes_from_the_database(app) -> None:
    client, db = app
    _login(client, "ops")
    assert client.get("/ops/dead").status_code == 200
    page = client.get("/settings")
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.username == "ops")
                  .values(role="desk", agency_code="000.00.17.H19"))
    r = client.post("/ops/dead/replay", data={"csrf": _csrf(page.text), "job": "1"})
    assert r.status_code == 403
    assert "không có quyền" in r.text
    assert "(một cửa)" in client.get("/desk").text  # the page shows the role now held


def test_desk_user_without_agency_cannot_log_in(app) -> None:
    client, db = app
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.username == "desk").values(agency_code=None))
    r = _login(client, "desk")
    assert r.status_code == 403
    assert "Tài khoản một cửa chưa được gán đơn vị" in r.text
    assert client.get("/desk").status_code == 303  # not logged in


@pytest.mark.parametrize("agency", [None, ""])
def test_desk_user_whose_agency_was_removed_is_refused(app, agency) -> None:
    client, db = app
    _login(client, "desk")
    assert client.get("/desk").status_code == 200
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.username == "desk").values(agency_code=agency))
    for r in (client.get("/desk"), client.get("/desk/pending.json"),
              client.post("/desk/pickups", data={"code": "X"}),
              client.post("/desk/cancel", data={"code": "X"})):
        assert r.status_code == 403
        assert "chưa được gán đơn vị" in r.text


def test_logout_is_post_with_the_token(app) -> None:
    client, _ = app
    _login(client, "ops")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/ops").status_code == 200  # still logged in
    page = client.get("/ops")
    r = client.post("/logout", data={"csrf": _csrf(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/ops").status_code == 303


def test_login_comes_back_with_the_query_string(app) -> None:
    client, _ = app
    r = client.get("/ops/handoffs?status=delivered&agency=000.00.17.H19")
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/login?next=")
    nxt = parse_qs(urlsplit(location).query)["next"][0]
    assert nxt == "/ops/handoffs?status=delivered&agency=000.00.17.H19"
    page = client.get(location)
    r = client.post(urlsplit(str(page.url)).path + "?" + urlsplit(str(page.url)).query,
                    data={"csrf": _csrf(page.text), "username": "ops", "password": PASSWORD})
    assert r.status_code == 303
    assert r.headers["location"] == "/ops/handoffs?status=delivered&agency=000.00.17.H19"


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example"])
def test_login_never_leaves_the_site(app, target) -> None:
    client, _ = app
    page = client.get("/login", params={"next": target})
    r = client.post("/login", params={"next": target},
                    data={"csrf": _csrf(page.text), "username": "ops", "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_password_guessing_is_slowed_down(tmp_path) -> None:
    for client, db in _client(tmp_path):
        with db.unit_of_work() as s:
            add_user(s, "guessed", PASSWORD, "ops")  # its own name: the throttle is global

        def attempt(password: str, c: TestClient = client) -> httpx.Response:
            page = c.get("/login")
            return c.post("/login", data={"csrf": _csrf(page.text),
                                          "username": "guessed", "password": password})

        assert [attempt(f"wrong-{i}").status_code for i in range(5)] == [401] * 5
        locked = attempt(PASSWORD)  # even the right password waits now
        assert locked.status_code == 429 and "thử lại sau" in locked.text
        assert client.get("/ops").status_code == 303  # not logged in
