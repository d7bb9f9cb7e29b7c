"""Bearer tokens of the desk API: made, listed, revoked and checked; only their hash is stored.

A token is `hpk_<prefix>_<secret>`: the prefix (random, stored in clear) lets people tell
tokens apart in `handoff token list`; the secret is 32 random bytes. The database holds the
SHA-256 of the whole token, so a leaked table opens nothing. A sent token is checked by
hashing it and looking the hash up through its unique index: no comparison of secrets
happens in Python, so there is nothing to time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import ApiToken, utcnow
from worker.domain.errors import InvalidInput
from worker.domain.text import clean_text
from worker.service.access.credentials import sha256_hex, touch

PREFIX = "hpk_"
SECRET_BYTES = 32
MAX_TOKEN_CHARS = 200  # anything longer is no token of ours; refused before hashing
# last_used_at is written at most this often per token: a busy integration calling many
# times a second must not turn every read into a write
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    """Who is calling the desk API: the token's name and the agency it may act for."""

    name: str
    agency_code: str | None  # None only for an all-agency token
    all_agencies: bool

    @property
    def actor(self) -> str:
        """What the status log records as the one who acted."""
        return f"api:{self.name}"


@dataclass(frozen=True)
class Refused:
    """Why a sent token opens nothing; `reason` is Vietnamese for the integrator."""

    reason: str


def create(session: Session, name: str, *, agency_code: str | None,
           all_agencies: bool = False) -> tuple[ApiToken, str]:
    """A new token (the row, and the token itself: shown once, never stored).

    Exactly one of `agency_code` and `all_agencies` must be given: an all-agency token
    exists only when asked for by name.
    """
    name = clean_text(name, "name", max_len=80, required=True, what="tên mã truy cập")
    agency = clean_text(agency_code, "agency", max_len=40, what="mã đơn vị") or None
    if all_agencies == (agency is not None):
        raise InvalidInput("cần đúng một trong hai: --agency MÃ_ĐƠN_VỊ hoặc --all-agencies",
                           field="agency", code="token.scope")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        # names stay unique forever, revoked or not: the status log names tokens by name
        raise InvalidInput(f"đã có mã truy cập tên {name}", field="name", code="token.exists")
    prefix = secrets.token_hex(4)
    token = f"{PREFIX}{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    row = ApiToken(name=name, prefix=f"{PREFIX}{prefix}", token_hash=sha256_hex(token),
                   agency_code=agency, all_agencies=all_agencies)
    session.add(row)
    session.flush()
    return row, token


def listing(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)))


def revoke(session: Session, name: str) -> ApiToken:
    """Revoke by name (idempotent: a second revoke keeps the first time)."""
    # typed at a terminal: undecodable bytes are refused here, never sent to the driver
    name = clean_text(name, "name", max_len=80, required=True, what="tên mã truy cập")
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise InvalidInput(f"không có mã truy cập tên {name}", field="name",
                           code="token.unknown")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def authenticate(session: Session, sent: str, *, now: datetime | None = None
                 ) -> Caller | Refused:
    """The caller a sent bearer token stands for, or why it is refused."""
    unknown = Refused("thiếu mã truy cập (bearer token) hoặc mã không đúng")
    if not sent or len(sent) > MAX_TOKEN_CHARS or not sent.startswith(PREFIX):
        return unknown
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(sent)))
    if row is None:
        return unknown
    if row.revoked_at is not None:
        return Refused("mã truy cập đã bị thu hồi; hãy xin mã mới")
    touch(session, ApiToken.last_used_at, ApiToken.id == row.id, row.last_used_at,
          now or utcnow(), TOUCH_EVERY)
    return Caller(row.name, row.agency_code, row.all_agencies)
