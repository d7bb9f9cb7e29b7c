"""One entry that cannot be taken is quarantined in the log; the others go through. The
database failing (a deadlock, a lost connection) is no entry's fault: it is raised, never
quarantined, so the caller's transaction (and its cursor) is given up."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from psycopg import errors
from sqlalchemy import event, select
from sqlalchemy.exc import InvalidRequestError, OperationalError, PendingRollbackError

from tests.support.db_failures import deadlock
from worker.db import failures
from worker.db.engine import Database
from worker.db.models import Handoff, StatusLogEntry
from worker.service.flow.isolation import Described, take_each


def _handoff(code: str) -> Handoff:
    return Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                   status="requested", ready_at=datetime.now(UTC))


def test_a_poisoned_entry_is_quarantined_and_the_next_one_is_taken(sqlite_db: Database
                                                                   ) -> None:
    def take(code: str) -> list:
        with_session.add(_handoff(code))  # a lone surrogate cannot be encoded: flush fails
        return []

    def describe(code: str) -> Described:  # the description is poisoned too
        return Described(f"item {code}", "onestop-feed", dossier_code=code)

    with sqlite_db.unit_of_work() as with_session:
        take_each(with_session, ["000.00.17.H19-201126-\ud800", "000.00.17.H19-201126-0002"],
                  take, describe)
    with sqlite_db.unit_of_work() as s:
        assert list(s.scalars(select(Handoff.dossier_code))) == ["000.00.17.H19-201126-0002"]
        entry = s.scalars(select(StatusLogEntry)).one()
    assert entry.applied is False and entry.source == "onestop-feed"
    assert entry.dossier_code == "000.00.17.H19-201126-\ufffd"
    assert entry.notes.startswith("không xử lý được item 000.00.17.H19-201126-\ufffd")


def test_when_even_the_quarantine_row_fails_the_unit_of_work_still_commits(
        sqlite_db: Database) -> None:
    def describe(code: str) -> Described:
        raise RuntimeError("a bug in the description")

    def take(code: str) -> list:
        if code == "bad":
            raise ValueError("a bug while taking")
        s.add(_handoff(code))
        return []

    with sqlite_db.unit_of_work() as s:
        take_each(s, ["bad", "000.00.17.H19-201126-0003"], take, describe)
    with sqlite_db.unit_of_work() as s:
        assert list(s.scalars(select(Handoff.dossier_code))) == ["000.00.17.H19-201126-0003"]


def _savepoint_lost() -> InvalidRequestError:
    """What a savepoint's rollback raises after the connection went: the lost connection
    is only its context."""
    try:
        raise OperationalError("SELECT 1", None, errors.OperationalError("connection reset"),
                               connection_invalidated=True)
    except OperationalError:
        try:
            raise InvalidRequestError("This nested transaction is inactive")
        except InvalidRequestError as err:
            return err


def _sqlite(name: str, text: str) -> OperationalError:
    err = sqlite3.OperationalError(text)
    err.sqlite_errorname = name
    return OperationalError("INSERT", None, err)


class _Stopped(Exception):
    """A task's time limit, as the process running the work registers it."""


@pytest.fixture
def stopped_registered() -> Iterator[None]:
    failures.ABORTS.append(_Stopped)
    yield
    failures.ABORTS.remove(_Stopped)


@pytest.mark.parametrize("trouble", [
    deadlock,
    lambda: OperationalError("SELECT 1", None, errors.QueryCanceled("statement timeout")),
    lambda: OperationalError("SELECT 1", None, errors.LockNotAvailable("lock timeout")),
    lambda: PendingRollbackError("Can't reconnect until invalid transaction is rolled back"),
    _savepoint_lost,
    lambda: _sqlite("SQLITE_BUSY", "database is locked"),
    lambda: _sqlite("SQLITE_FULL", "database or disk is full"),
    _Stopped,
], ids=["deadlock", "cancelled", "lock-timeout", "pending-rollback",
        "savepoint-after-lost-connection", "sqlite-busy", "sqlite-full", "task-stopped"])
@pytest.mark.usefixtures("stopped_registered")
def test_the_database_failing_is_raised_and_nothing_is_quarantined(
        sqlite_db: Database, trouble: Callable[[], Exception]) -> None:
    # quarantined, the entry would be skipped for good by the cursor moving past it
    error = trouble()

    def take(code: str) -> list:
        if code == "second":
            raise error
        s.add(_handoff(code))
        return []

    def describe(code: str) -> Described:
        return Described(f"item {code}", "onestop-feed", dossier_code=code)

    with pytest.raises(type(error)), sqlite_db.unit_of_work() as s:
        take_each(s, ["000.00.17.H19-201126-0004", "second", "000.00.17.H19-201126-0005"],
                  take, describe)
    with sqlite_db.unit_of_work() as s:  # the whole transaction was given up
        assert list(s.scalars(select(Handoff.dossier_code))) == []
        assert list(s.scalars(select(StatusLogEntry))) == []


@pytest.mark.parametrize("own", [
    lambda: OperationalError("INSERT", None, errors.ProgramLimitExceeded("index row")),
    lambda: _sqlite("SQLITE_ERROR", "malformed JSON"),
    lambda: OperationalError("INSERT", None, errors.OperationalError(
        "number of parameters must be between 0 and 65535")),  # libpq's, no SQLSTATE
], ids=["pg-index-row", "sqlite-malformed-json", "libpq-too-many-parameters"])
def test_an_error_of_the_entry_itself_is_still_quarantined(
        sqlite_db: Database, own: Callable[[], Exception]) -> None:
    """An error not known to be the database failing is the entry's: counted the other
    way, the entry would roll its page back on every poll and stop the feed for good."""
    def take(code: str) -> list:
        if code == "huge":
            raise own()
        s.add(_handoff(code))
        return []

    with sqlite_db.unit_of_work() as s:
        take_each(s, ["huge", "000.00.17.H19-201126-0006"], take,
                  lambda code: Described(f"item {code}", "onestop-feed"))
    with sqlite_db.unit_of_work() as s:
        assert list(s.scalars(select(Handoff.dossier_code))) == ["000.00.17.H19-201126-0006"]
        assert [e.reason_code for e in s.scalars(select(StatusLogEntry))] == ["entry_not_taken"]


def test_a_page_is_taken_in_one_savepoint_and_a_bad_entry_in_it_costs_only_itself(
        sqlite_db: Database) -> None:
    """A page's entries share one savepoint (two statements for the page, not for each
    entry); one failing on its own account sends the page through one savepoint an entry:
    every good entry is kept once, the bad one quarantined once."""
    savepoints: list[str] = []
    listen = sqlite_db.engine

    def count(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            savepoints.append(statement)

    event.listen(listen, "before_cursor_execute", count)
    try:
        def take(code: str) -> list:
            if code == "bad":
                raise ValueError("a bug while taking")
            s.add(_handoff(code))
            return []

        good = [f"000.00.17.H19-201126-00{n}" for n in range(10, 14)]
        with sqlite_db.unit_of_work() as s:
            take_each(s, good, take, lambda code: Described(f"item {code}", "onestop-feed"))
        assert savepoints == ["SAVEPOINT sa_savepoint_1", "RELEASE SAVEPOINT sa_savepoint_1"]
        more = [f"000.00.17.H19-201126-00{n}" for n in range(20, 24)]
        with sqlite_db.unit_of_work() as s:
            take_each(s, [*more[:2], "bad", *more[2:]], take,
                      lambda code: Described(f"item {code}", "onestop-feed"))
    finally:
        event.remove(listen, "before_cursor_execute", count)
    with sqlite_db.unit_of_work() as s:
        assert sorted(s.scalars(select(Handoff.dossier_code))) == sorted(good + more)
        assert [e.reason_code for e in s.scalars(select(StatusLogEntry))] == ["entry_not_taken"]
