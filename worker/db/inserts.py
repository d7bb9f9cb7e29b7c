"""An insert that a unique index may refuse, in one statement.

`INSERT ... ON CONFLICT DO NOTHING RETURNING id` (PostgreSQL; SQLite from 3.35): the row is
written, or the index already holds its key and nothing is written; either way the
transaction goes on. The same decision as a savepoint around a plain INSERT that catches the
IntegrityError, in one round trip instead of three (SAVEPOINT, INSERT, RELEASE), and with no
error for the server to log. On PostgreSQL a row of the same key written by a transaction
not yet committed makes this one wait for it, as the plain INSERT did, so two copies at once
still get one row. A SQLite older than 3.35 (no RETURNING) is given the savepoint and the
plain INSERT: the embedded default runs on whatever SQLite Python was built with.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.db.models.base import Base

Row = TypeVar("Row", bound=Base)


def _unless_known(session: Session, model: type[Base], values: dict[str, Any]) -> Any:
    """The one-statement insert, or None where the database cannot do it."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        return postgresql.insert(model).values(**values).on_conflict_do_nothing()
    if dialect.name == "sqlite" and dialect.insert_returning:
        return sqlite.insert(model).values(**values).on_conflict_do_nothing()
    return None  # a SQLite without RETURNING (or another database): the savepoint's way


def insert_new(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """Insert the row unless a unique index holds its key already: whether it was written."""
    statement = _unless_known(session, model, values)
    if statement is None:
        try:
            with session.begin_nested():
                session.execute(insert(model).values(**values))
        except IntegrityError:
            return False
        return True
    id_column = model.__table__.c.id
    return session.execute(statement.returning(id_column)).scalar_one_or_none() is not None


def add_new(session: Session, model: type[Row], values: dict[str, Any]) -> Row | None:
    """`insert_new` that gives back the row written as an object of the session (None when
    the key was known). Unlike an object added, one written by this statement stays in the
    session when a savepoint around it rolls back (SQLAlchemy does not track it as new):
    whoever collects such objects must ask the database whether their rows are still there
    (worker/service/ledger/uow.py `_to_ring` does)."""
    statement = _unless_known(session, model, values)
    if statement is None:
        row = model(**values)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            return None
        return row
    # populate_existing: SQLite gives a rolled-back row's id to the next row, and the
    # session may still hold the rolled-back row's object under it (see above).
    # no_autoflush: the statement depends on nothing the session holds unwritten (its values
    # are plain, a row it names, such as the hand-off, has its id so is written), so the
    # session's pending changes wait for the commit, where the unit of work writes those of
    # every row of a batch together (one INSERT of their log rows, not one each): a flush
    # here for each row was a sixth of a job runner's CPU in a burst.
    with session.no_autoflush:
        return session.scalars(statement.returning(model)
                               .execution_options(populate_existing=True)).one_or_none()


def insert_new_many(session: Session, model: type[Base], rows: list[dict[str, Any]],
                    key: str) -> set[Any] | None:
    """`insert_new` for many rows in one statement: the `key` values of the rows written (a
    key given twice is written once). None where the database cannot do it in one
    statement: the caller takes the rows one by one."""
    statement = _unless_known(session, model, {})  # the rows' values at execution
    if statement is None:
        return None
    if not rows:
        return set()
    return set(session.scalars(statement.returning(model.__table__.c[key]), rows))


def add_new_many(session: Session, model: type[Row], rows: list[dict[str, Any]],
                 key: str) -> dict[Any, Row] | None:
    """`add_new` for many rows in one statement: the rows written as objects of the
    session, by their `key` value (a key the index held already is absent). None where the
    database cannot do it in one statement: the caller takes the rows one by one. The
    same care as `add_new` (the session's pending changes wait; rolled-back ids)."""
    statement = _unless_known(session, model, {})  # the rows' values at execution
    if statement is None:
        return None
    if not rows:
        return {}
    with session.no_autoflush:
        written = session.scalars(statement.returning(model)
                                  .execution_options(populate_existing=True), rows)
        return {getattr(row, key): row for row in written}
