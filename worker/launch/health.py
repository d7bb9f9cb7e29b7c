"""Liveness for `handoff check` (compose healthchecks): recent consumption, fresh feed cursors.

Every task a worker finishes writes `worker:<hostname>` (this container consumed), and the
ledger, sweep and SLA tasks also write the global `worker` row (some worker consumed: the
fleet view). `handoff check` runs inside the container it judges, so a worker container is
judged by its own row: a dead worker goes unhealthy even while its siblings keep the global
row fresh. A container with no row of its own (the beat, which consumes nothing; a worker
that has not finished a task yet) is judged by the global row."""

from __future__ import annotations

import socket
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.db.engine import Database
from worker.db.models import Cursor, Heartbeat, utcnow
from worker.service import agencies
from worker.service.agencies import areas
from worker.service.flow.cursors import ONESTOP_CURSOR, carrier_cursor
from worker.service.ledger import uow
from worker.settings import Settings

FLEET_HEARTBEAT = "worker"


def host_heartbeat(hostname: str | None = None) -> str:
    """The heartbeat row of one host (this one by default); computed per call, never cached."""
    return f"{FLEET_HEARTBEAT}:{hostname or socket.gethostname()}"


def beat_heartbeat(db: Database, *names: str) -> None:
    """Mark each named heartbeat as beating now.
    Two processes of one host may insert the same row at once: the loser just updates."""
    now = utcnow()
    with uow.write(db) as s:
        for name in names:
            if s.execute(update(Heartbeat).where(Heartbeat.name == name)
                         .values(at=now)).rowcount == 1:  # type: ignore[attr-defined]
                continue
            try:
                with s.begin_nested():
                    s.add(Heartbeat(name=name, at=now))
            except IntegrityError:
                s.execute(update(Heartbeat).where(Heartbeat.name == name).values(at=now))


def liveness(settings: Settings, hostname: str | None = None) -> list[str]:
    """Plain reasons the system is not healthy; empty when it is."""
    db = Database(settings.resolved_database_url())
    problems: list[str] = []
    try:
        with uow.read(db) as s:
            now = utcnow()  # after the connection: on the server's clock (worker/db/clock.py)
            own = host_heartbeat(hostname)
            beat = s.scalar(select(Heartbeat.at).where(Heartbeat.name == own))
            subject = f"worker {own.split(':', 1)[1]} (this container)"
            if beat is None:  # not a worker, or one that has not finished a task yet
                beat = s.scalar(select(Heartbeat.at).where(Heartbeat.name == FLEET_HEARTBEAT))
                subject = "no worker"
            idle = timedelta(seconds=settings.check_max_idle_seconds)
            if beat is None:
                problems.append("no worker has consumed any work yet")
            elif now - beat > idle:
                verb = "consumed" if subject == "no worker" else "has not consumed"
                problems.append(
                    f"{subject} {verb} work for {int((now - beat).total_seconds())}s")
            stale = timedelta(seconds=settings.check_feed_stale_seconds)
            feeds = s.execute(select(Cursor.name, Cursor.updated_at).where(
                Cursor.name.in_(expected_feeds(s, settings)))).all()
            for name, at in feeds:
                if at is not None and now - at > stale:
                    problems.append(f"feed {name} not read for {int((now - at).total_seconds())}s")
    except Exception as err:
        problems.append(f"database unreachable: {type(err).__name__}")
    finally:
        db.dispose()
    return problems


def expected_feeds(session: Session, settings: Settings) -> list[str]:
    """The cursors the pollers keep fresh now: the one-stop feed and the tracking feed of
    every account in use (the default one, each agency's own). A cursor left behind by an
    account no agency uses any more is never read again, so it must not count as stale;
    a current account whose cursor does not exist yet (just added) is not a failure."""
    default = agencies.default_account(settings).key
    return [ONESTOP_CURSOR, *(carrier_cursor(account, default)
                              for account in agencies.accounts(session, settings))]


def notices(settings: Settings) -> list[str]:
    """What `handoff check` says without failing (a container is healthy all the same):
    the area table is still the placeholders. An unreachable database is liveness's to
    report, so it gives no notice here."""
    db = Database(settings.resolved_database_url())
    try:
        with uow.read(db) as s:
            note = areas.placeholder_notice(s)
    except Exception:
        return []
    finally:
        db.dispose()
    return [note] if note else []
