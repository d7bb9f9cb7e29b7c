"""Whether an error is a failure outside the data being written: the database failing, or
the work being stopped.

A failure of the database (a lost connection, a deadlock, a lock not granted, a server
shutting down, disk full) is no fault of the entry or event being written: taking it again
later may well succeed. Nor is the work being stopped (a task's time limit). Code that
isolates one entry in a savepoint (quarantine, a hook that must not undo the change it
follows) lets these through, so the whole transaction is rolled back and retried;
swallowed, a deadlock aborts only the statement and the transaction commits without it.

The list is narrow on purpose: an error that is not known to be transient counts as the
entry's (quarantined, the feed goes on). Counted the other way, one entry that always
fails would roll its page back on every poll and stop the feed for good.
"""

from __future__ import annotations

from sqlalchemy import exc

# PostgreSQL SQLSTATEs of the database failing: connection exceptions (08), transaction
# rollbacks (40: serialization failure, deadlock), insufficient resources (53: disk full,
# out of memory, too many connections), lock not available (55P03), a statement cancelled
# (57014: a timeout, an operator), operator intervention (57P01-57P05: shutdown, crash,
# cannot connect now, idle session timeout).
_PG_TROUBLE = ("08", "40", "53", "55P03", "57014", "57P0")
# SQLite's result codes of the file failing rather than the statement (busy, locked, I/O,
# full, cannot open, read-only), with their extended codes (SQLITE_BUSY_SNAPSHOT, ...).
_SQLITE_TROUBLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL",
                   "SQLITE_CANTOPEN", "SQLITE_READONLY")
# The connection or the pool, not the statement.
_CONNECTION = (exc.DisconnectionError, exc.TimeoutError, exc.PendingRollbackError,
               exc.InterfaceError)

# What stops a piece of work from outside (a task's soft time limit): registered by the
# process that runs the work (worker/tasks.py), so this layer imports no task framework.
ABORTS: list[type[BaseException]] = []


def database_trouble(err: BaseException) -> bool:
    """Whether `err` is the database failing rather than the entry: taking it again later
    may well succeed. A savepoint's rollback that fails after a lost connection raises
    InvalidRequestError while handling it: its cause is looked at too."""
    current: BaseException | None = err
    for _ in range(4):  # the error, then what it was raised while handling (a few deep)
        if current is None:
            return False
        if _trouble(current):
            return True
        if not isinstance(current, exc.InvalidRequestError):
            return False
        current = current.__cause__ or current.__context__
    return False


def _trouble(err: BaseException) -> bool:
    if isinstance(err, _CONNECTION):
        return True
    if isinstance(err, exc.DBAPIError) and err.connection_invalidated:
        return True  # SQLAlchemy judged the connection lost (libpq's own errors included)
    orig = getattr(err, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate:
        return sqlstate.startswith(_PG_TROUBLE)
    name = getattr(orig, "sqlite_errorname", None) or ""
    return name.startswith(_SQLITE_TROUBLE)


def outside_failure(err: BaseException) -> bool:
    """The database failing, or the work stopped: nothing to hold against the entry."""
    return database_trouble(err) or isinstance(err, tuple(ABORTS))
