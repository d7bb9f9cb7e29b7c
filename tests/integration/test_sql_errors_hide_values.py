"""A failed SQL statement's error never carries the values it was given (personal data)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from worker.db.engine import Database
from worker.db.migrate import upgrade
from worker.db.models import Receipt

MARKER = "0912345678-Nguyễn-Thị-Hoa-MARKER"


def _duplicate_receipt(db: Database) -> IntegrityError:
    with db.unit_of_work() as s:
        s.add(Receipt(source="feed", external_id=MARKER))
    with pytest.raises(IntegrityError) as caught, db.unit_of_work() as s:
        s.add(Receipt(source="feed", external_id=MARKER))
        s.flush()
    return caught.value


def _assert_no_marker(err: BaseException) -> None:
    assert MARKER not in str(err)
    assert MARKER not in repr(err)
    assert MARKER not in str(getattr(err, "orig", ""))


def test_integrity_error_on_sqlite_hides_the_duplicate_value(sqlite_db: Database) -> None:
    err = _duplicate_receipt(sqlite_db)
    _assert_no_marker(err)
    assert "SQL parameters hidden" in str(err)


def test_integrity_error_on_postgresql_names_the_constraint_not_the_value(pg_url: str) -> None:
    upgrade(pg_url)
    db = Database(pg_url)
    try:
        err = _duplicate_receipt(db)
        _assert_no_marker(err)
        assert "uq_receipt" in str(err)  # still says what went wrong
        assert "SQL parameters hidden" in str(err)
    finally:
        db.dispose()


def test_data_error_on_postgresql_hides_the_bad_value(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        with pytest.raises(DBAPIError) as caught, db.engine.connect() as conn:
            conn.execute(text("select cast(:v as integer)"), {"v": MARKER})
        _assert_no_marker(caught.value)
        assert "22P02" in str(caught.value)  # invalid_text_representation, by its SQLSTATE
    finally:
        db.dispose()
