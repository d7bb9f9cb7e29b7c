"""The database failing, as SQLAlchemy raises it, for tests of what is not the entry's
fault (worker/db/failures.py)."""

from __future__ import annotations

from psycopg import errors
from sqlalchemy.exc import OperationalError


def deadlock(statement: str = "SELECT handoffs FOR UPDATE") -> OperationalError:
    """PostgreSQL's deadlock (SQLSTATE 40P01) on `statement`."""
    return OperationalError(statement, None, errors.DeadlockDetected("deadlock detected"))
