"""People who use the desk and ops pages: scrypt password hashes, roles, their agency."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import User

ROLES = ("ops", "desk")
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=_N, r=_R,
                            p=_P, dklen=32)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def add_user(session: Session, username: str, password: str, role: str,
             agency_code: str | None = None, full_name: str = "") -> User:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    agency_code = (agency_code or "").strip() or None
    if role == "desk" and agency_code is None:
        raise ValueError("a desk user needs --agency")  # desk staff see only their agency
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username)
        session.add(user)
    user.password_hash, user.role = hash_password(password), role
    user.agency_code, user.full_name, user.active = agency_code, full_name, True
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        hash_password(password)  # same time whether the user exists or not
        return None
    return user if verify_password(password, user.password_hash) else None
