"""Database leases: one holder at a time for feed polling, the ledger sweep and the SLA pass."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.db.models import Lease, utcnow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

_TOKEN = uuid.uuid4().hex[:6]


def current_holder() -> str:
    """Who holds a lease: host and process. Computed per call, never at import: a prefork
    worker imports this module once and forks its pool, and every child must be its own
    holder (a shared one would let two children hold the same lease)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_TOKEN}"


def acquire(session: Session, name: str, seconds: float, holder: str | None = None) -> bool:
    """Take or renew the lease; False if someone else holds a live one."""
    holder = holder or current_holder()
    now = utcnow()
    if session.scalar(select(Lease.name).where(Lease.name == name)) is None:
        try:
            with session.begin_nested():
                # born expired, so the very first caller takes it
                session.add(Lease(name=name, holder="", expires_at=now - timedelta(seconds=1)))
        except IntegrityError:
            pass
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.expires_at < now, Lease.holder == holder))
        .values(holder=holder, expires_at=now + timedelta(seconds=seconds))
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def release(session: Session, name: str, holder: str | None = None) -> None:
    holder = holder or current_holder()
    session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder)
        .values(holder="", expires_at=utcnow())
    )


@contextmanager
def held(rt: Runtime, name: str) -> Iterator[bool]:
    """Take the lease for the block, each step in its own transaction: yields False when
    another holder has a live one (the block should then do nothing); else True, and the
    lease is released when the block ends, however it ends.

        with leases.held(rt, "sla") as got:
            if not got:
                return
            ...
    """
    with rt.db.unit_of_work() as s:
        got = acquire(s, name, rt.settings.lease_seconds)
    if not got:
        yield False
        return
    try:
        yield True
    finally:
        with rt.db.unit_of_work() as s:
            release(s, name)
