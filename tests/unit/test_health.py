"""`handoff check` on a migrated SQLite database with heartbeats written directly: a worker
container is judged by its own heartbeat, anything else by the fleet's."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from worker.db.engine import Database
from worker.db.models import Cursor, Heartbeat, utcnow
from worker.launch.health import FLEET_HEARTBEAT, beat_heartbeat, host_heartbeat, liveness
from worker.service.flow.feeds import ONESTOP_CURSOR
from worker.settings import Settings

HOST = "worker-7f3a"
IDLE = 300.0


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


@pytest.fixture
def settings(db: Database, tmp_path) -> Settings:
    return Settings(database_url=db.url, home=tmp_path, check_max_idle_seconds=IDLE,
                    check_feed_stale_seconds=900.0)


def _beats(db: Database, **ages: float) -> None:
    """Heartbeat rows by name, each `age` seconds old ("fleet" is the global row)."""
    now = utcnow()
    with db.unit_of_work() as s:
        for name, age in ages.items():
            s.add(Heartbeat(name=FLEET_HEARTBEAT if name == "fleet" else host_heartbeat(name),
                            at=now - timedelta(seconds=age)))


def test_host_heartbeat_name() -> None:
    assert host_heartbeat(HOST) == "worker:worker-7f3a"
    assert host_heartbeat() == f"worker:{socket.gethostname()}"


def test_own_host_stale_while_fleet_fresh_is_unhealthy(db: Database, settings: Settings) -> None:
    _beats(db, fleet=5, **{HOST: 2 * IDLE, "worker-other": 5})
    problems = liveness(settings, hostname=HOST)
    assert len(problems) == 1
    assert "worker-7f3a" in problems[0] and "has not consumed work for 6" in problems[0]


def test_own_host_fresh_is_healthy(db: Database, settings: Settings) -> None:
    _beats(db, fleet=5, **{HOST: 10})
    assert liveness(settings, hostname=HOST) == []


def test_other_hosts_only_uses_the_fleet_row(db: Database, settings: Settings) -> None:
    # the beat container: no row of its own; a stale sibling does not matter, the fleet does
    _beats(db, fleet=5, **{"worker-other": 2 * IDLE})
    assert liveness(settings, hostname="beat-1") == []

    with db.unit_of_work() as s:
        s.get_one(Heartbeat, FLEET_HEARTBEAT).at = utcnow() - timedelta(seconds=2 * IDLE)
    problems = liveness(settings, hostname="beat-1")
    assert len(problems) == 1 and problems[0].startswith("no worker consumed work for 6")


def test_no_heartbeat_at_all(settings: Settings) -> None:
    assert liveness(settings, hostname=HOST) == ["no worker has consumed any work yet"]


def test_stale_feed_cursor_still_reported(db: Database, settings: Settings) -> None:
    _beats(db, fleet=5, **{HOST: 5})
    with db.unit_of_work() as s:
        s.add(Cursor(name=ONESTOP_CURSOR, value="x", updated_at=utcnow() - timedelta(hours=1)))
    problems = liveness(settings, hostname=HOST)
    assert len(problems) == 1 and problems[0].startswith(f"feed {ONESTOP_CURSOR} not read for")


def test_unreachable_database(tmp_path) -> None:
    bad = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:9/none", home=tmp_path)
    assert liveness(bad)[0].startswith("database unreachable")


def test_beat_heartbeat_writes_fleet_and_own_host_rows(db: Database) -> None:
    beat_heartbeat(db, FLEET_HEARTBEAT, host_heartbeat())
    with db.unit_of_work() as s:
        first = dict(s.execute(select(Heartbeat.name, Heartbeat.at)).all())
    assert set(first) == {"worker", f"worker:{socket.gethostname()}"}

    beat_heartbeat(db, FLEET_HEARTBEAT, host_heartbeat())
    with db.unit_of_work() as s:
        again = dict(s.execute(select(Heartbeat.name, Heartbeat.at)).all())
    assert set(again) == set(first)  # updated in place, no duplicate
    assert all(again[n] >= first[n] for n in first)
