"""Liveness for `handoff check` (compose healthchecks): recent consumption, fresh feed cursors."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from worker.db.engine import Database
from worker.db.models import Cursor, Heartbeat, utcnow
from worker.service.feeds import CARRIER_CURSOR, ONESTOP_CURSOR
from worker.settings import Settings


def liveness(settings: Settings) -> list[str]:
    """Plain reasons the system is not healthy; empty when it is."""
    db = Database(settings.resolved_database_url())
    now = utcnow()
    problems: list[str] = []
    try:
        with db.unit_of_work() as s:
            beat = s.scalar(select(Heartbeat.at).where(Heartbeat.name == "worker"))
            idle = timedelta(seconds=settings.check_max_idle_seconds)
            if beat is None:
                problems.append("no worker has consumed any work yet")
            elif now - beat > idle:
                problems.append(f"no worker consumed work for {(now - beat).seconds}s")
            stale = timedelta(seconds=settings.check_feed_stale_seconds)
            for name in (ONESTOP_CURSOR, CARRIER_CURSOR):
                at = s.scalar(select(Cursor.updated_at).where(Cursor.name == name))
                if at is not None and now - at > stale:
                    problems.append(f"feed {name} not read for {int((now - at).total_seconds())}s")
    except Exception as err:
        problems.append(f"database unreachable: {type(err).__name__}")
    finally:
        db.dispose()
    return problems
