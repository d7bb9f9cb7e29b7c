"""An insert that a unique index may refuse, in one statement.

`INSERT ... ON CONFLICT DO NOTHING RETURNING id` (PostgreSQL and SQLite both have it): the
row is written, or the index already holds its key and nothing is written; either way the
transaction goes on. The same decision as a savepoint around a plain INSERT that catches the
IntegrityError, in one round trip instead of three (SAVEPOINT, INSERT, RELEASE), and with no
error for the server to log. On PostgreSQL a row of the same key written by a transaction
not yet committed makes this one wait for it, as the plain INSERT did, so two copies at once
still get one row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.db.models.base import Base


def insert_new(session: Session, model: type[Base], values: dict[str, Any]) -> int | None:
    """Insert the row unless a unique index holds its key already: its id, or None."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(model).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(model).values(**values).on_conflict_do_nothing()
    else:
        raise NotImplementedError(f"insert_new: no ON CONFLICT for {dialect}")
    id_column = model.__table__.c.id
    return session.execute(statement.returning(id_column)).scalar_one_or_none()
