"""`column IN (a list)` as one array parameter on PostgreSQL.

A list given to `in_()` is an "expanding" parameter: at every execution SQLAlchemy renders
the statement again with one placeholder a value, so a chunk's look-ups (a tracking-feed
chunk's hand-offs, log keys and pushes told; a batch's claims) are a new text each time a
list's length changes. That rendering was 8 % of a tracking-feed chunk's samples
(py-spy, `python -m bench.tracking_feed --events 12000`), and PostgreSQL parses and plans
each new text afresh. `column = ANY(:values)`, the list sent as one array, is the same text
at any length: SQLAlchemy compiles it once, and psycopg prepares it on the server after a
few uses. SQLite has no arrays, so there (the embedded default) it stays `IN`.

Only for columns of plain types (integers, strings), whose values psycopg adapts into an
array as they are; any other column keeps `IN`. An ORM UPDATE or DELETE whose WHERE has it
brings the session's objects up to date by fetching the ids it changed (RETURNING), as
SQLAlchemy cannot evaluate `ANY` in Python; with `IN` it evaluated the criteria on the
objects. The outcome is the same. A string column's array has no length: `'abcdef' =
ANY('{abcdefgh}'::VARCHAR(6)[])` is true in PostgreSQL (an explicit cast cuts the value),
where `IN` is not.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Enum, Integer, String, TypeDecorator, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine


def among(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN values`, written for the session's database (above)."""
    kind = column.type
    if session.get_bind().dialect.name != "postgresql" or not _plain(kind):
        return column.in_(list(values))  # type: ignore[no-any-return]
    if isinstance(kind, String):
        # no length: cast to VARCHAR(n)[], a longer value would be cut to n characters and
        # then match a row holding its first n (a hostile order number, a long key)
        kind = String()
    return column == any_(literal(list(values), ARRAY(kind)))  # type: ignore[no-any-return]


def _plain(kind: TypeEngine[Any]) -> bool:
    """An integer or a string column, not an enum's (its names converted) nor a decorated
    type (its values converted): psycopg adapts those values into an array as they are."""
    return isinstance(kind, Integer | String) and not isinstance(kind, Enum | TypeDecorator)
