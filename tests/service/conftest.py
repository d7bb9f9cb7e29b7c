"""Fixtures of the service tests: the world on a migrated SQLite database, and a short
timeout for every test here (a ledger rule checked without processes never waits)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.fakes import (
    CommittedBell,
    FakeCarrier,
    FakeNotifier,
    FakeOnestop,
    LedgerClock,
)
from tests.service.world import World
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.settings import Settings

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test here that waits (a lock held by a second connection, a hang) fails in seconds
    # instead of the suite's five minutes.
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.timeout(15))


@pytest.fixture
def world(sqlite_db: Database, tmp_path: Path) -> Iterator[World]:
    """A runtime with fake ports and a list bell that checks each ring came after its
    commit. Three attempts per job; a retry waits
    5 s doubling (the ledger clock moves it); notifications on."""
    settings = Settings(home=tmp_path, database_url=sqlite_db.url, max_attempts=3,
                        backoff_base_seconds=5.0, backoff_max_seconds=3600.0,
                        redispatch_after=60.0, lease_seconds=120.0,
                        notify_url="http://sla.invalid/hook")
    carrier, onestop, notifier = FakeCarrier(), FakeOnestop(), FakeNotifier()
    bell = CommittedBell(sqlite_db)
    rt = build_runtime(settings=settings, db=sqlite_db, carriers={"ngsp": carrier}, onestop=onestop,
                       notifier=notifier, bell=bell)
    yield World(rt, carrier, onestop, notifier, bell, LedgerClock(sqlite_db))
