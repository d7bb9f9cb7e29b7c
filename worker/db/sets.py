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
array as they are. A string column's array has no length: `'abcdef' = ANY('{abcdefgh}'::
VARCHAR(6)[])` is true in PostgreSQL (an explicit cast cuts the value), where `IN` is not.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, String, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def among(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN values`, written for the session's database (above)."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(list(values))  # type: ignore[no-any-return]
    kind = column.type
    if isinstance(kind, String):
        # no length: cast to VARCHAR(n)[], a longer value would be cut to n characters and
        # then match a row holding its first n (a hostile order number, a long key)
        kind = String()
    return column == any_(literal(list(values), ARRAY(kind)))  # type: ignore[no-any-return]
