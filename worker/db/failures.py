"""Whether an error is the database failing rather than the data given to it.

A failure of the database (a lost connection, a deadlock, a cancelled statement) is no
fault of the entry or event being written: taking it again later may well succeed. Code
that isolates one entry in a savepoint (quarantine, a hook that must not undo the change
it follows) lets these through, so the whole transaction is rolled back and retried;
swallowed, a deadlock aborts only the statement and the transaction commits without it.
"""

from __future__ import annotations

from sqlalchemy import exc

# The database failing, whatever the entry: the connection lost or reset, a deadlock or a
# serialization failure, a statement cancelled, a lock or the pool timed out, disk or memory
# short (DBAPI OperationalError); the connection closed (InterfaceError); a session that
# cannot go on after one of these (PendingRollbackError).
_TROUBLE = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError,
            exc.PendingRollbackError)
_ENTRY_LIMITS = "54"  # SQLSTATE class program_limit_exceeded: a value too big for an index


def database_trouble(err: BaseException) -> bool:
    """Whether `err`, or an error it was raised while handling (a savepoint's rollback
    failing after a lost connection raises InvalidRequestError), is the database failing
    rather than the entry: taking it again later may well succeed."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, exc.DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(getattr(current, "orig", None), "sqlstate", None) or ""
        if isinstance(current, _TROUBLE) and not sqlstate.startswith(_ENTRY_LIMITS):
            return True
        current = current.__cause__ or current.__context__
    return False
