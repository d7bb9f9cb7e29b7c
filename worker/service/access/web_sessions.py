"""Server-side sessions of the desk and ops pages: the cookie holds a random id, this is the rest.

Only the SHA-256 of the id is stored, so a copy of the table opens no browser. Deleting a
row ends that session at once, whatever the browser still holds: logout deletes one row;
a password change, a deactivation or a role change deletes all of a user's rows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker.db.models import User, WebSession
from worker.service.access.credentials import sha256_hex, touch

# How stale last_seen_at may get before a request refreshes it: one write per session
# every few minutes, not one per page.
TOUCH_EVERY = timedelta(minutes=5)
PRUNE_BATCH = 500  # expired rows removed per login: bounded work, the table still shrinks


@dataclass(frozen=True)
class SessionUser:
    """Who a valid session belongs to, as the database has them now."""

    user_id: int
    username: str
    role: str
    agency_code: str | None
    full_name: str
    csrf: str


def start(session: Session, user_id: int, max_age_seconds: int,
          now: datetime | None = None) -> str:
    """A new session for this user; returns the random id for the cookie (never stored)."""
    now = now or datetime.now(UTC)
    prune_expired(session, now)
    session_id = secrets.token_urlsafe(32)
    session.add(WebSession(id_hash=sha256_hex(session_id), user_id=user_id,
                           csrf=secrets.token_urlsafe(32), created_at=now, last_seen_at=now,
                           expires_at=now + timedelta(seconds=max_age_seconds)))
    session.flush()
    return session_id


def resolve(session: Session, session_id: str, now: datetime | None = None
            ) -> SessionUser | None:
    """The session's user if the session exists, has not expired and the user is active.

    One query joins the session to its user. A row that can never be valid again (expired,
    or its user deactivated) is deleted, so reactivating a user does not revive old cookies.
    """
    now = now or datetime.now(UTC)
    id_hash = sha256_hex(session_id)
    row = session.execute(
        select(WebSession.expires_at, WebSession.last_seen_at, WebSession.csrf, User.id,
               User.username, User.role, User.agency_code, User.full_name, User.active)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id_hash == id_hash)).first()
    if row is None:
        return None
    expires_at, last_seen_at, csrf, user_id, username, role, agency, name, active = row
    if expires_at <= now or not active:
        session.execute(delete(WebSession).where(WebSession.id_hash == id_hash))
        return None
    touch(session, WebSession.last_seen_at, WebSession.id_hash == id_hash, last_seen_at, now,
          TOUCH_EVERY)
    return SessionUser(user_id, username, role, agency, name or "", csrf)


def end(session: Session, session_id: str) -> None:
    """Logout: this browser's session is gone; its cookie opens nothing any more."""
    session.execute(delete(WebSession).where(WebSession.id_hash == sha256_hex(session_id)))


def end_all_for(session: Session, user_id: int) -> int:
    """Every session of one user (password change, deactivation, role change)."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def prune_expired(session: Session, now: datetime | None = None,
                  limit: int = PRUNE_BATCH) -> None:
    """Delete up to `limit` expired sessions (opportunistic housekeeping at each login)."""
    now = now or datetime.now(UTC)
    expired = select(WebSession.id_hash).where(WebSession.expires_at <= now).limit(limit)
    session.execute(delete(WebSession).where(WebSession.id_hash.in_(expired))
                    .execution_options(synchronize_session=False))
