"""Reading rows for people and passes that loop over them: one row whose stored value cannot
be read back (a date past year 9999 or a broken string on SQLite, 'infinity' on PostgreSQL)
is logged by id and left out, and every other row is still read.

The whole query runs first, as always; only when it fails on a value does it fall back to
reading the same rows by id, in halves, so a bad row costs a few queries, not one per row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVarTuple

from sqlalchemy import Select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import InstrumentedAttribute, Session

log = logging.getLogger(__name__)

# What a driver or SQLAlchemy raises while turning one stored value into a Python value.
UNREADABLE = (ValueError, OverflowError, TypeError, DataError)
CHUNK = 500  # ids per query in the fallback: well inside every driver's bind limit
Ts = TypeVarTuple("Ts")
Key = InstrumentedAttribute[Any]  # the column that names a row: an id or a name


def read_rows(session: Session, stmt: Select[*Ts], key: Key, *,
              entities: bool = False) -> list[Any]:
    """The rows of `stmt` (ORM objects when `entities`, else tuples), in its order, without
    the rows that cannot be read. `key` is the id column that names a row."""
    try:
        return _run(session, stmt, entities)
    except UNREADABLE as err:
        log.error("a stored value could not be read (%s); reading the rows one by one",
                  type(err).__name__)
    ids = list(session.scalars(stmt.with_only_columns(key)))
    unbounded = stmt.limit(None).offset(None)
    out: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        out += _halves(session, unbounded, key, ids[start:start + CHUNK], entities)
    return out


def _halves(session: Session, stmt: Select[*Ts], key: Key, ids: Sequence[Any],
            entities: bool) -> list[Any]:
    try:
        return _run(session, stmt.where(key.in_(ids)), entities)
    except UNREADABLE as err:
        if len(ids) == 1:
            log.error("row %s left out: a stored value could not be read (%s)", ids[0],
                      type(err).__name__)  # the id and type only: values may be personal
            return []
    mid = len(ids) // 2
    return (_halves(session, stmt, key, ids[:mid], entities)
            + _halves(session, stmt, key, ids[mid:], entities))


def _run(session: Session, stmt: Select[*Ts], entities: bool) -> list[Any]:
    return list(session.scalars(stmt) if entities else session.execute(stmt).all())
