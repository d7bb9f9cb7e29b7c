"""People who use the desk and ops pages: scrypt password hashes, roles, their agency.

Whatever changes who a person is or how they prove it (a new password, a new role or
agency, deactivation) ends all of their open sessions: the old browser must log in again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import User
from worker.domain.enums import Role
from worker.domain.errors import InvalidInput
from worker.domain.text import clean_text
from worker.service.access.web_sessions import end_all_for

ROLES = tuple(r.value for r in Role)  # plain values: they are printed in messages
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
USERNAME_VI = "tên đăng nhập"
_N, _R, _P = 2**14, 8, 1


class UserError(ValueError):
    """A user command that cannot be done as asked (the message says why)."""


@dataclass(frozen=True)
class UserInfo:
    """What `handoff user list` shows: never the password hash."""

    username: str
    role: str
    agency_code: str | None
    full_name: str
    active: bool


def _encode(password: str) -> bytes:
    # surrogatepass: any text a form or a terminal hands us hashes; none raises here
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(_encode(password), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(_encode(password), salt=base64.b64decode(salt_b64), n=_N, r=_R,
                            p=_P, dklen=32)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"password must have at most {MAX_PASSWORD} characters")


def _text(value: str | None, field: str, max_len: int, required: bool = False,
          what: str = "giá trị") -> str:
    try:
        return clean_text(value, field, max_len=max_len, required=required, what=what)
    except InvalidInput as err:
        raise UserError(f"{field}: {err.reason} ({err.code})") from None


def add_user(session: Session, username: str, password: str, role: str,
             agency_code: str | None = None, full_name: str = "") -> User:
    """Create a user, or reset an existing one's password, role, agency and name (which
    ends their open sessions)."""
    if role not in ROLES:
        raise UserError(f"role must be one of {ROLES}")
    username = _text(username, "username", 80, required=True, what=USERNAME_VI)
    check_password(password)
    agency_code = _text(agency_code, "agency", 40) or None
    if role == Role.DESK and agency_code is None:
        raise UserError("a desk user needs --agency")  # desk staff see only their agency
    full_name = _text(full_name, "name", 200)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username)
        session.add(user)
    else:
        end_all_for(session, user.id)
    user.password_hash, user.role = hash_password(password), role
    user.agency_code, user.full_name, user.active = agency_code, full_name, True
    session.flush()
    return user


def _existing(session: Session, username: str) -> User:
    # typed at a terminal: undecodable bytes are refused here, never sent to the driver
    username = _text(username, "username", 80, required=True, what=USERNAME_VI)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"no user named {username!r}")
    return user


def set_password(session: Session, username: str, password: str) -> int:
    """A new password; every open session of the user ends. Returns how many ended."""
    check_password(password)
    user = _existing(session, username)
    user.password_hash = hash_password(password)
    return end_all_for(session, user.id)


def set_active(session: Session, username: str, active: bool) -> int:
    """Deactivate (sessions end, login refused) or activate again; returns sessions ended."""
    user = _existing(session, username)
    user.active = active
    return end_all_for(session, user.id) if not active else 0


def list_users(session: Session) -> list[UserInfo]:
    rows = session.execute(select(User.username, User.role, User.agency_code, User.full_name,
                                  User.active).order_by(User.username)).all()
    return [UserInfo(u, r, a, n or "", bool(act)) for u, r, a, n, act in rows]


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (same time either way)."""
    if len(password) > MAX_PASSWORD:
        return None  # no such password can exist; says nothing about the user
    try:  # a name no user can have (NUL, lone surrogate) must not reach the driver
        username = clean_text(username, "username", max_len=80)
    except InvalidInput:
        username = ""
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True))
                          ) if username else None
    if user is None:
        hash_password(password)  # same time whether the user exists or not
        return None
    return user if verify_password(password, user.password_hash) else None
