"""`handoff check` judges the tracking feeds of the accounts in use only: an agency that
moved to another account leaves its old cursor behind, never read again, and that cursor
must not keep the containers unhealthy for good."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.agencies import SENDER, seed
from worker.db.engine import Database
from worker.db.models import Cursor, Heartbeat, utcnow
from worker.launch.health import FLEET_HEARTBEAT, expected_feeds, liveness
from worker.service import agencies
from worker.service.admin import agency_admin
from worker.service.flow.feeds import CARRIER_CURSOR, ONESTOP_CURSOR, carrier_cursor
from worker.settings import Settings

AGENCY = "000.00.17.H19"
STALE = 900.0


@pytest.fixture
def settings(sqlite_db: Database, tmp_path) -> Settings:
    return Settings(database_url=sqlite_db.url, home=tmp_path, check_feed_stale_seconds=STALE)


def _own_account(db: Database, settings: Settings, customer: str) -> str:
    """Put AGENCY on an account of its own; returns that account's cursor name."""
    with db.unit_of_work() as s:
        agency_admin.save(s, settings, {
            "code": AGENCY, "name": "Đơn vị thử", **SENDER, "dispatch": "auto",
            "route": "ngsp", "customer_code": customer, "customer_key": f"{customer}-key",
            "secret_key": f"{customer}-secret"}, "test")
    with db.unit_of_work() as s:
        account = agencies.account_of(s, settings, AGENCY)
    assert account is not None and account.customer_code == customer
    return carrier_cursor(account, agencies.default_account(settings).key)


def _cursor(db: Database, name: str, age: float) -> None:
    with db.unit_of_work() as s:
        row = s.get(Cursor, name)
        at = utcnow() - timedelta(seconds=age)
        if row is None:
            s.add(Cursor(name=name, value="x", updated_at=at))
        else:
            row.updated_at = at


def test_a_cursor_of_an_account_no_longer_used_is_not_judged(sqlite_db: Database,
                                                             settings: Settings) -> None:
    seed(sqlite_db, settings)
    with sqlite_db.unit_of_work() as s:
        s.add(Heartbeat(name=FLEET_HEARTBEAT, at=utcnow()))
    old = _own_account(sqlite_db, settings, "KH-CU")
    assert old.startswith("ct:")
    for name in (ONESTOP_CURSOR, CARRIER_CURSOR, old):
        _cursor(sqlite_db, name, 10)
    assert liveness(settings, hostname="beat-1") == []

    # the agency moves to another account: the old feed is never read again
    new = _own_account(sqlite_db, settings, "KH-MOI")
    with sqlite_db.unit_of_work() as s:
        assert set(expected_feeds(s, settings)) == {ONESTOP_CURSOR, CARRIER_CURSOR, new}
    _cursor(sqlite_db, old, 10 * STALE)
    # the new account's cursor does not exist yet (no page read): not a failure by itself
    assert liveness(settings, hostname="beat-1") == []

    # the new account's feed, once it exists, is judged like any other
    _cursor(sqlite_db, new, 2 * STALE)
    problems = liveness(settings, hostname="beat-1")
    assert len(problems) == 1 and problems[0].startswith(f"feed {new} not read for")


def test_the_default_and_one_stop_feeds_are_still_judged(sqlite_db: Database,
                                                         settings: Settings) -> None:
    with sqlite_db.unit_of_work() as s:
        s.add(Heartbeat(name=FLEET_HEARTBEAT, at=utcnow()))
    _cursor(sqlite_db, CARRIER_CURSOR, 2 * STALE)
    _cursor(sqlite_db, ONESTOP_CURSOR, 10)
    problems = liveness(settings, hostname="beat-1")
    assert len(problems) == 1 and problems[0].startswith(f"feed {CARRIER_CURSOR} not read for")
