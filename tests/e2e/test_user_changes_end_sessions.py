"""`handoff user passwd|deactivate|activate` and the user service against the real app:
a new password, a role change or a deactivation ends that person's sessions at once."""

from __future__ import annotations

from sqlalchemy import update

from tests.handoff_cli import handoff
from tests.web_app import COOKIE, PASSWORD, Web, logged_out, login
from worker.db.models import User
from worker.service.access.users import add_user, set_active, set_password


def test_a_new_password_ends_every_session_of_that_user_only(web_app: Web) -> None:
    second, desk = web_app.browser(), web_app.browser()
    for client, who in ((web_app.client, "ops"), (second, "ops"), (desk, "desk")):
        assert login(client, who).status_code == 303
    out = handoff(web_app.home, "user", "passwd", "ops", "--password-stdin",
                  stdin="a-new-password-1\n")
    assert out.returncode == 0, out.stderr
    assert "2 session(s) ended" in out.stdout
    assert logged_out(web_app.client.get("/ops")) and logged_out(second.get("/ops"))
    assert desk.get("/desk").status_code == 200  # other people keep working
    assert login(web_app.client, "ops").status_code == 401  # the old password is gone
    assert login(web_app.client, "ops", "a-new-password-1").status_code == 303


def test_deactivate_ends_sessions_and_refuses_login_until_activated(web_app: Web) -> None:
    login(web_app.client, "ops")
    cookie = web_app.client.cookies[COOKIE]
    out = handoff(web_app.home, "user", "deactivate", "ops")
    assert out.returncode == 0, out.stderr
    assert logged_out(web_app.client.get("/ops"))
    assert login(web_app.client, "ops").status_code == 401
    assert handoff(web_app.home, "user", "activate", "ops").returncode == 0
    assert login(web_app.client, "ops").status_code == 303
    assert web_app.client.get("/ops").status_code == 200
    assert logged_out(web_app.replay(cookie, "GET", "/ops"))  # the old session stays ended


def test_service_calls_end_sessions_too(web_app: Web) -> None:
    """Role change through `user add` (reset), password and deactivation in the service."""
    for change in (lambda s: add_user(s, "ops", PASSWORD, "desk", "000.00.17.H19"),
                   lambda s: set_password(s, "ops", "another-password"),
                   lambda s: set_active(s, "ops", False)):
        with web_app.db.unit_of_work() as s:
            s.execute(update(User).where(User.username == "ops")
                      .values(active=True, role="ops", agency_code=None))
            set_password(s, "ops", PASSWORD)
        assert login(web_app.client, "ops").status_code == 303
        assert web_app.client.get("/ops/dead").status_code == 200
        with web_app.db.unit_of_work() as s:
            change(s)
        assert logged_out(web_app.client.get("/ops/dead"))
