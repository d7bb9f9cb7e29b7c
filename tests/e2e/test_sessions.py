"""Sessions against the real app on a temporary SQLite database (no stack, no browser):
the session lives on the server, so logout or a change to the user ends it at once,
whatever a copy of the old cookie says; sessions expire; logout is POST."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import itsdangerous
import pytest
from sqlalchemy import func, select, update

from tests.web_app import COOKIE, PASSWORD, Web, csrf, logged_out, login
from worker.db.engine import Database
from worker.db.models import Handoff, StatusLogEntry, User, WebSession, utcnow
from worker.settings import Settings


def _sessions(db: Database) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(WebSession)) or 0)


def test_an_expired_session_opens_nothing_even_with_a_validly_signed_cookie(
        web_app: Web) -> None:
    assert login(web_app.client, "ops").status_code == 303
    cookie = web_app.client.cookies[COOKIE]  # a copy the browser would have dropped by then
    assert web_app.replay(cookie, "GET", "/ops").status_code == 200
    with web_app.db.unit_of_work() as s:  # the session's time is up; the cookie's signature
        s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert logged_out(web_app.replay(cookie, "GET", "/ops"))
    assert _sessions(web_app.db) == 0  # the server dropped the expired session


def test_deactivated_user_loses_access_at_once(web_app: Web) -> None:
    client, db = web_app.client, web_app.db
    login(client, "ops")
    assert client.get("/ops").status_code == 200
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.username == "ops").values(active=False))
    assert logged_out(client.get("/ops"))
    with db.unit_of_work() as s:  # active again: the old cookie was cleared, not revived
        s.execute(update(User).where(User.username == "ops").values(active=True))
    assert client.get("/ops").status_code == 303


def test_role_comes_from_the_database(web_app: Web) -> None:
    client, db = web_app.client, web_app.db
    login(client, "ops")
    assert client.get("/ops/dead").status_code == 200
    page = client.get("/settings")
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.username == "ops")
                  .values(role="desk", agency_code="000.00.17.H19"))
    r = client.post("/ops/dead/replay", data={"csrf": csrf(page.text), "job": "1"})
    assert r.status_code == 403
    assert "không có quyền" in r.text
    assert "(một cửa)" in client.get("/desk").text  # the page shows the role now held


def test_desk_user_without_agency_cannot_log_in(web_app: Web) -> None:
    client, db = web_app.client, web_app.db
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.username == "desk").values(agency_code=None))
    r = login(client, "desk")
    assert r.status_code == 403
    assert "Tài khoản một cửa chưa được gán đơn vị" in r.text
    assert client.get("/desk").status_code == 303  # not logged in


@pytest.mark.parametrize("agency", [None, ""])
def test_desk_user_whose_agency_was_removed_is_refused(web_app: Web, agency) -> None:
    client, db = web_app.client, web_app.db
    login(client, "desk")
    assert client.get("/desk").status_code == 200
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.username == "desk").values(agency_code=agency))
    for r in (client.get("/desk"), client.get("/desk/pending.json"),
              client.post("/desk/pickups", data={"code": "X"}),
              client.post("/desk/cancel", data={"code": "X"})):
        assert r.status_code == 403
        assert "chưa được gán đơn vị" in r.text


def test_logout_is_post_with_the_token(web_app: Web) -> None:
    client = web_app.client
    login(client, "ops")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/ops").status_code == 200  # still logged in
    page = client.get("/ops")
    r = client.post("/logout", data={"csrf": csrf(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/ops").status_code == 303


def test_login_comes_back_with_the_query_string(web_app: Web) -> None:
    client = web_app.client
    r = client.get("/ops/handoffs?status=delivered&agency=000.00.17.H19")
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/login?next=")
    nxt = parse_qs(urlsplit(location).query)["next"][0]
    assert nxt == "/ops/handoffs?status=delivered&agency=000.00.17.H19"
    r = login(client, "ops", path=location)
    assert r.status_code == 303
    assert r.headers["location"] == "/ops/handoffs?status=delivered&agency=000.00.17.H19"


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example"])
def test_login_never_leaves_the_site(web_app: Web, target) -> None:
    client = web_app.client
    page = client.get("/login", params={"next": target})
    r = client.post("/login", params={"next": target},
                    data={"csrf": csrf(page.text), "username": "ops", "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/"


def _waiting_handoff(db: Database, code: str) -> int:
    with db.unit_of_work() as s:
        h = Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                    status="requested", ready_at=func.now(), agency_code="000.00.17.H19",
                    agency_name="UBND xã Lai Vung", citizen_name="Nguyễn Thị Hoa",
                    citizen_phone="0912345678", citizen_address="12 Lý Thường Kiệt")
        s.add(h)
        s.flush()
        return h.id


def test_logout_ends_the_session_for_every_copy_of_the_cookie(web_app: Web) -> None:
    hid = _waiting_handoff(web_app.db, "000.00.17.H19-260101-0001")
    assert login(web_app.client, "desk").status_code == 303
    token = csrf(web_app.client.get("/desk").text)
    cookie = web_app.client.cookies[COOKIE]
    # before logout this cookie and token reach the cancel form
    r = web_app.replay(cookie, "POST", "/desk/cancel", data={"csrf": token, "code": "NO-SUCH"})
    assert r.status_code == 200, r.text
    assert web_app.client.post("/logout", data={"csrf": token}).status_code == 303
    assert logged_out(web_app.replay(cookie, "GET", "/desk"))
    r = web_app.replay(cookie, "POST", "/desk/cancel",
                       data={"csrf": token, "code": "000.00.17.H19-260101-0001"})
    assert logged_out(r)
    with web_app.db.unit_of_work() as s:
        assert s.get(Handoff, hid).status == "requested"  # type: ignore[union-attr]
        assert not s.scalars(select(StatusLogEntry).where(StatusLogEntry.handoff_id == hid)
                             ).all()
    assert _sessions(web_app.db) == 0


def test_the_cookie_names_no_user_and_a_forged_one_opens_nothing(web_app: Web) -> None:
    login(web_app.client, "ops")
    payload = web_app.client.cookies[COOKIE].split(".")[0]
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    assert list(data) == ["sid"] and "ops" not in json.dumps(data)
    # even someone holding the signing secret cannot make a session: none exists for it
    secret = Settings().session_secret.get_secret_value()
    for forged in ({"sid": "guessed-session-id"},
                   {"user": {"username": "ops", "role": "ops", "agency_code": None}}):
        value = itsdangerous.TimestampSigner(secret).sign(
            base64.b64encode(json.dumps(forged).encode())).decode()
        assert logged_out(web_app.replay(value, "GET", "/ops/dead"))


def test_logging_in_again_in_the_same_browser_ends_the_previous_session(web_app: Web) -> None:
    login(web_app.client, "ops")
    first = web_app.client.cookies[COOKIE]
    assert login(web_app.client, "desk").status_code == 303
    assert logged_out(web_app.replay(first, "GET", "/ops"))
    assert web_app.client.get("/desk").status_code == 200
    assert web_app.client.get("/").headers["location"] == "/desk"  # the home page knows who
    assert _sessions(web_app.db) == 1
