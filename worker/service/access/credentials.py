"""What web sessions and desk API tokens share: a secret kept only as its SHA-256, and a
last-use time written sparingly."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import InstrumentedAttribute, Session


def sha256_hex(secret: str) -> str:
    """The stored form of a session id or a token: a copy of the table opens nothing."""
    # surrogatepass: whatever text a cookie or header decoded to hashes; none raises here
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def touch(session: Session, column: InstrumentedAttribute[datetime] |
          InstrumentedAttribute[datetime | None], where: ColumnElement[bool],
          last: datetime | None, now: datetime, every: timedelta) -> None:
    """Write `now` into `column` of the rows `where` picks, only when `last` (read with
    them) is older than `every`: a busy browser or integration must not turn every read
    into a write."""
    if last is None or now - last > every:
        session.execute(update(column.class_).where(where).values({column.key: now})
                        .execution_options(synchronize_session=False))
