"""Server-side sessions on the clock they are given: expiry and the sparse last-seen write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from worker.db.engine import Database
from worker.db.models import User, WebSession
from worker.service.access import web_sessions

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def _session(db: Database, max_age: int) -> str:
    with db.unit_of_work() as s:
        user = User(username="ops", password_hash="-", role="ops")  # never logs in here
        s.add(user)
        s.flush()
        return web_sessions.start(s, user.id, max_age, now=T0)


def _resolve(db: Database, sid: str, seconds: float) -> web_sessions.SessionUser | None:
    with db.unit_of_work() as s:
        return web_sessions.resolve(s, sid, now=T0 + timedelta(seconds=seconds))


def _row(db: Database) -> tuple[int, datetime | None]:
    with db.unit_of_work() as s:
        count = s.scalar(select(func.count()).select_from(WebSession)) or 0
        return int(count), s.scalar(select(WebSession.last_seen_at))


def test_a_session_past_its_expiry_resolves_to_nobody_and_is_deleted(sqlite_db) -> None:
    sid = _session(sqlite_db, max_age=3600)
    found = _resolve(sqlite_db, sid, 3599)
    assert found is not None and found.username == "ops"
    assert _resolve(sqlite_db, sid, 3600) is None
    assert _row(sqlite_db)[0] == 0  # gone: no later clock can revive it
    assert _resolve(sqlite_db, sid, 0) is None


def test_last_seen_is_written_at_most_every_five_minutes(sqlite_db) -> None:
    sid = _session(sqlite_db, max_age=3600)
    _resolve(sqlite_db, sid, 299)
    assert _row(sqlite_db) == (1, T0)  # a busy page: no write
    _resolve(sqlite_db, sid, 301)
    assert _row(sqlite_db) == (1, T0 + timedelta(seconds=301))
