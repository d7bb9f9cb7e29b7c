"""Sessions against the real app on a temporary SQLite database (no stack, no browser):
the session lives on the server, so logout, a new password, a role change or deactivation
end it at once, whatever a copy of the old cookie says; sessions expire; logout is POST."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from worker.bootstrap import Runtime
from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Handoff, StatusLogEntry, User, WebSession
from worker.service.users import add_user, set_active, set_password
from worker.settings import Settings
from worker.web.app import create_app

PASSWORD = "password-for-tests"
COOKIE = "handoff_session"
BASE = "https://testserver"  # the cookie is Secure outside the embedded default


@dataclass
class Web:
    client: TestClient
    db: Database
    url: str

    def browser(self) -> TestClient:
        """Another browser on the same app (its own cookies)."""
        return TestClient(self.client.app, base_url=BASE, follow_redirects=False)


def _client(tmp_path, **settings: object) -> Iterator[Web]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    db = Database(url)
    with db.unit_of_work() as s:
        add_user(s, "ops", PASSWORD, "ops", full_name="Trần Vận Hành")
        add_user(s, "desk", PASSWORD, "desk", "000.00.17.H19", "Lê Một Cửa")
    rt = Runtime(settings=Settings(database_url=url, home=tmp_path / "home", **settings),
                 db=db)  # type: ignore[arg-type]
    with TestClient(create_app(rt), base_url=BASE, follow_redirects=False) as client:
        yield Web(client, db, url)
    db.dispose()


@pytest.fixture
def web(tmp_path) -> Iterator[Web]:
    yield from _client(tmp_path)


@pytest.fixture
def app(web: Web) -> tuple[TestClient, Database]:
    return web.client, web.db


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _login(client: TestClient, username: str, next_: str = "",
           password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login" + (f"?next={next_}" if next_ else ""))
    return client.post(page.request.url.raw_path.decode(),
                       data={"csrf": _csrf(page.text), "username": username,
                             "password": password})


def _logged_out(r: httpx.Response) -> bool:
    return r.status_code == 303 and r.headers["location"].startswith("/login")


def _replay(web: Web, cookie: str, method: str, path: str, **kw: object) -> httpx.Response:
    """A request from someone holding a copy of an old cookie (a fresh client, no jar)."""
    with web.browser() as other:
        return other.request(method, path, headers={"cookie": f"{COOKIE}={cookie}"}, **kw)


def _sessions(db: Database) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(WebSession)) or 0)


def test_session_expires(tmp_path) -> None:
    for w in _client(tmp_path, session_max_age_seconds=1):
        assert _login(w.client, "ops").status_code == 303
        assert w.client.get("/ops").status_code == 200
        deadline = time.monotonic() + 10
        while not _logged_out(w.client.get("/ops")):
            assert time.monotonic() < deadline, "the session never expired"
            time.sleep(0.2)


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


def _cli(web: Web, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`handoff ...` on this app's database, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_DATABASE_URL=web.url, HANDOFF_HOME=str(web.db.url.rsplit("/", 1)[0]
                                                              .removeprefix("sqlite:///")))
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def _waiting_handoff(db: Database, code: str) -> int:
    with db.unit_of_work() as s:
        h = Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                    status="requested", ready_at=func.now(), agency_code="000.00.17.H19",
                    agency_name="UBND xã Lai Vung", citizen_name="Nguyễn Thị Hoa",
                    citizen_phone="0912345678", citizen_address="12 Lý Thường Kiệt")
        s.add(h)
        s.flush()
        return h.id


def test_logout_ends_the_session_for_every_copy_of_the_cookie(web: Web) -> None:
    hid = _waiting_handoff(web.db, "000.00.17.H19-260101-0001")
    assert _login(web.client, "desk").status_code == 303
    token = _csrf(web.client.get("/desk").text)
    cookie = web.client.cookies[COOKIE]
    # before logout this cookie and token reach the cancel form
    r = _replay(web, cookie, "POST", "/desk/cancel", data={"csrf": token, "code": "NO-SUCH"})
    assert r.status_code == 200, r.text
    assert web.client.post("/logout", data={"csrf": token}).status_code == 303
    assert _logged_out(_replay(web, cookie, "GET", "/desk"))
    r = _replay(web, cookie, "POST", "/desk/cancel",
                data={"csrf": token, "code": "000.00.17.H19-260101-0001"})
    assert _logged_out(r)
    with web.db.unit_of_work() as s:
        assert s.get(Handoff, hid).status == "requested"  # type: ignore[union-attr]
        assert not s.scalars(select(StatusLogEntry).where(StatusLogEntry.handoff_id == hid)
                             ).all()
    assert _sessions(web.db) == 0


def test_the_cookie_names_no_user_and_a_forged_one_opens_nothing(web: Web) -> None:
    import base64
    import json

    import itsdangerous

    _login(web.client, "ops")
    payload = web.client.cookies[COOKIE].split(".")[0]
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    assert list(data) == ["sid"] and "ops" not in json.dumps(data)
    # even someone holding the signing secret cannot make a session: none exists for it
    secret = Settings().session_secret.get_secret_value()
    for forged in ({"sid": "guessed-session-id"},
                   {"user": {"username": "ops", "role": "ops", "agency_code": None}}):
        value = itsdangerous.TimestampSigner(secret).sign(
            base64.b64encode(json.dumps(forged).encode())).decode()
        assert _logged_out(_replay(web, value, "GET", "/ops/dead"))


def test_a_new_password_ends_every_session_of_that_user_only(web: Web) -> None:
    second = web.browser()
    desk = web.browser()
    for client, who in ((web.client, "ops"), (second, "ops"), (desk, "desk")):
        assert _login(client, who).status_code == 303
    out = _cli(web, "user", "passwd", "ops", "--password-stdin", stdin="a-new-password-1\n")
    assert out.returncode == 0, out.stderr
    assert "2 session(s) ended" in out.stdout
    assert _logged_out(web.client.get("/ops")) and _logged_out(second.get("/ops"))
    assert desk.get("/desk").status_code == 200  # other people keep working
    assert _login(web.client, "ops").status_code == 401  # the old password is gone
    assert _login(web.client, "ops", password="a-new-password-1").status_code == 303


def test_deactivate_ends_sessions_and_refuses_login_until_activated(web: Web) -> None:
    _login(web.client, "ops")
    cookie = web.client.cookies[COOKIE]
    out = _cli(web, "user", "deactivate", "ops")
    assert out.returncode == 0, out.stderr
    assert _logged_out(web.client.get("/ops"))
    assert _login(web.client, "ops").status_code == 401
    assert _cli(web, "user", "activate", "ops").returncode == 0
    assert _login(web.client, "ops").status_code == 303
    assert web.client.get("/ops").status_code == 200
    assert _logged_out(_replay(web, cookie, "GET", "/ops"))  # the old session stays ended


def test_service_calls_end_sessions_too(web: Web) -> None:
    """Role change through `user add` (reset), password and deactivation in the service."""
    for change in (lambda s: add_user(s, "ops", PASSWORD, "desk", "000.00.17.H19"),
                   lambda s: set_password(s, "ops", "another-password"),
                   lambda s: set_active(s, "ops", False)):
        with web.db.unit_of_work() as s:
            s.execute(update(User).where(User.username == "ops")
                      .values(active=True, role="ops", agency_code=None))
            set_password(s, "ops", PASSWORD)
        assert _login(web.client, "ops").status_code == 303
        assert web.client.get("/ops/dead").status_code == 200
        with web.db.unit_of_work() as s:
            change(s)
        assert _logged_out(web.client.get("/ops/dead"))


def test_logging_in_again_in_the_same_browser_ends_the_previous_session(web: Web) -> None:
    _login(web.client, "ops")
    first = web.client.cookies[COOKIE]
    assert _login(web.client, "desk").status_code == 303
    assert _logged_out(_replay(web, first, "GET", "/ops"))
    assert web.client.get("/desk").status_code == 200
    assert web.client.get("/").headers["location"] == "/desk"  # the home page knows who
    assert _sessions(web.db) == 1
