"""The quota limiter in the database, for the embedded default (no Redis): one
`rate_buckets` row per post-office account, shared by every process of the deployment.

Each reservation is one short transaction holding the account's row: SELECT ... FOR UPDATE
on PostgreSQL; on SQLite every transaction is BEGIN IMMEDIATE (worker/db/engine.py), so two
processes queue for the file and can never take the same slot. The clock is the database's
on PostgreSQL (workers on several machines) and this machine's on SQLite (one file, one
machine). The caller sleeps until its slot after the commit: no lock is held while waiting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.db.engine import Database
from worker.db.models import RateBucket
from worker.domain.quota import (
    MAX_HOLD_SLEEP_S,
    Budget,
    Reservation,
    hold_left,
    next_slot,
    take_slot,
)
from worker.ports.quota import AccountUsage

if TYPE_CHECKING:
    from worker.settings import Settings


class DatabaseBucket:
    """RateLimiter over the `rate_buckets` table (the embedded default)."""

    def __init__(self, db: Database, *, max_wait: float, margin: float,
                 max_hold: float = MAX_HOLD_SLEEP_S,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.db = db
        self.max_wait = max_wait
        self.margin = margin
        self.max_hold = max_hold
        self._sleep = sleep
        self._server_clock = db.engine.dialect.name == "postgresql"

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> DatabaseBucket:
        return cls(db, max_wait=settings.carrier_quota_max_wait_seconds,
                   margin=settings.carrier_quota_margin_seconds)

    def __repr__(self) -> str:
        return f"DatabaseBucket(db={self.db.engine.url!r})"  # the URL repr hides the password

    # --- RateLimiter ---------------------------------------------------------------------
    def acquire(self, account: str, per_second: float, *, max_wait: float | None = None
                ) -> float:
        most = self.max_wait if max_wait is None else min(max_wait, self.max_wait)
        return take_slot(account, Budget.of(per_second, self.margin), most,
                         reserve=self._reserve, blocked_until=self._blocked_until,
                         sleep=self._sleep, clock=time.monotonic, max_hold=self.max_hold)

    def throttled(self, account: str, retry_after: float) -> None:
        with self.db.unit_of_work() as s:
            row = self._row(s, account)
            row.blocked_until = max(row.blocked_until, self._now(s) + max(0.0, retry_after))
            row.throttled += 1

    def usage(self) -> list[AccountUsage]:
        with self.db.unit_of_work() as s:
            rows = s.scalars(select(RateBucket).order_by(RateBucket.account)).all()
            return [AccountUsage(account=r.account, requests=r.requests,
                                 waited_seconds=r.waited_seconds, waits=r.waits,
                                 throttled=r.throttled) for r in rows]

    # --- Plumbing --------------------------------------------------------------------------
    def _reserve(self, account: str, budget: Budget, new: bool, max_wait: float,
                 max_hold: float) -> Reservation:
        with self.db.unit_of_work() as s:
            row = self._row(s, account)
            now = self._now(s)  # after the lock: a process that queued sees when it got it
            seen_at = time.monotonic()
            held = hold_left(now, row.blocked_until, max_hold)
            if held > 0:
                return Reservation(False, held, row.blocked_until, seen_at, held=True)
            recent = recent_slots(row.recent)
            slot = next_slot(row.last_slot, now, row.blocked_until, budget, recent)
            wait = slot - now
            if wait > max_wait:
                return Reservation(False, wait, slot, seen_at)
            row.last_slot = slot
            row.recent = json.dumps([round(slot, 6), *recent][:budget.kept])
            if new:
                row.requests += 1
                row.waits += 1 if wait > 0 else 0
            row.waited_seconds += max(0.0, wait)
            return Reservation(True, wait, slot, seen_at)

    def _blocked_until(self, account: str) -> float:
        with self.db.unit_of_work() as s:
            return s.scalar(select(RateBucket.blocked_until)
                            .where(RateBucket.account == account)) or 0.0

    def _row(self, s: Session, account: str) -> RateBucket:
        """The account's row, created on first use, locked until the transaction ends."""
        if s.scalar(select(RateBucket.account).where(RateBucket.account == account)) is None:
            try:
                with s.begin_nested():
                    s.add(RateBucket(account=account, last_slot=0.0, blocked_until=0.0,
                                     requests=0, waits=0, waited_seconds=0.0, throttled=0))
            except IntegrityError:
                pass  # another process created it first
        # populate_existing: the row just added (or read) is read again under the lock
        return s.scalars(select(RateBucket).where(RateBucket.account == account)
                         .with_for_update().execution_options(populate_existing=True)).one()

    def _now(self, s: Session) -> float:
        if self._server_clock:
            return float(s.scalar(select(func.extract("epoch", func.clock_timestamp()))) or 0.0)
        return time.time()



def recent_slots(stored: str | None) -> list[float]:
    """A row's recorded slots, newest first; none when unreadable (evenly spaced from the
    last slot, as an account's first requests are)."""
    try:
        got = json.loads(stored or "[]")
        return [float(v) for v in got] if isinstance(got, list) else []
    except (ValueError, TypeError):
        return []
