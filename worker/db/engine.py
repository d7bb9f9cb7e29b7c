"""Engine and unit of work. Nothing connects at import time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from worker.db import clock, schema_state

# Execution option of Database.long_read's connection (read by the SQLite begin hook).
LONG_READ = "handoff_long_read"


# libpq's own checks of a PostgreSQL link, so a process waiting on a connection whose far
# side is gone (a partition, a server restarted behind a firewall that dropped its state)
# hears of it within about a minute instead of waiting for ever: TCP keepalive probes while
# it waits for a reply, a limit on how long sent data may stay unacknowledged, and on how
# long a connection may take to open. (A proxy in between, pgbouncer or HAProxy, keeps its
# own side of the link alive: these see only that side.)
LINK_CHECKS = {"keepalives": 1, "keepalives_idle": 20, "keepalives_interval": 10,
               "keepalives_count": 3, "tcp_user_timeout": 60_000, "connect_timeout": 10}


def make_engine(url: str) -> Engine:
    # hide_parameters: a failed statement's text never carries its bound values, which hold
    # names, phones and addresses; errors reach logs, ledger rows and pages.
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False},
                               hide_parameters=True)
        _sqlite_tuning(engine)
        return engine
    # at most 12 at once: HANDOFF_JOB_THREADS (up to 10), a batch's own transactions and
    # the settler's (worker/service/jobs/inflight.py).
    # Statements rendered with PostgreSQL's own placeholders ($1, $2, ...) and run by
    # psycopg's RawCursor, which sends them as they are: with its default cursor, psycopg
    # parses each statement's text for its %(name)s placeholders, and caches the result
    # only for statements of at most 50 parameters (and 4,096 bytes); the unit of work's
    # INSERT of a batch's rows (hundreds of rows of a dozen columns) was parsed again on
    # every flush, 5.8 ms for 200 log rows, a third of the tracking feed's chunks' samples
    # in a profile (bench/RESULTS.md).
    import psycopg  # (here: the embedded default never loads it)

    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=7,
                           hide_parameters=True, paramstyle="numeric_dollar",
                           connect_args={**LINK_CHECKS, "cursor_factory": psycopg.RawCursor})
    event.listen(engine, "handle_error", _redact_server_detail)
    # a server-side cursor (a streamed read: the CSV export) takes the same placeholders
    event.listen(engine, "connect", _raw_server_cursors)
    clock.follow_engine(engine)  # stamps on the server's clock (worker/db/clock.py)
    return engine


def _raw_server_cursors(dbapi_conn: Any, _record: Any) -> None:
    import psycopg  # (here: the embedded default never loads it)

    dbapi_conn.server_cursor_factory = psycopg.RawServerCursor


def _private_sqlite_file(url: str) -> None:
    """The embedded database holds names, phones and addresses: its file is created 0600
    (its folder 0700 when made here) before SQLAlchemy opens it, and SQLite gives the -wal
    and -shm files the mode of the database file. A file an older version left readable
    by others is made 0600 (when it is ours to change)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        return  # an empty file is an empty database to SQLite
    except FileExistsError:
        pass
    schema_state.keep_private(path)


def _redact_server_detail(context: Any) -> None:
    """PostgreSQL puts values in its error text (DETAIL "Key (phone)=(0912...)", "Failing
    row contains (...)", CONTEXT with parameters, the bad value in a data error), which
    hide_parameters does not touch. Keep only names and the SQLSTATE; values stay in the
    driver's `diag` for whoever must debug with the database at hand."""
    orig = context.original_exception
    diag = getattr(orig, "diag", None)
    wrapped = context.sqlalchemy_exception
    if diag is None or wrapped is None or diag.sqlstate is None:
        return  # no SQLSTATE: libpq's own text (connection refused, server closed), no values
    parts = [f"sqlstate {diag.sqlstate}"]
    if _is_integrity(orig) and diag.message_primary:
        parts.insert(0, diag.message_primary)  # constraint violations name, never show, values
    for label, name in (("constraint", diag.constraint_name), ("table", diag.table_name),
                        ("column", diag.column_name)):
        if name:
            parts.append(f"{label} {name}")
    text = "; ".join(parts)
    orig.args = (text,)
    wrapped.args = (f"({type(orig).__module__}.{type(orig).__name__}) {text}",)


def _is_integrity(error: BaseException) -> bool:
    sqlstate = getattr(getattr(error, "diag", None), "sqlstate", None) or ""
    return sqlstate.startswith("23")  # class 23: integrity constraint violation


def _sqlite_tuning(engine: Engine) -> None:
    """WAL for concurrent readers, and BEGIN IMMEDIATE so two writers queue instead of
    deadlocking on a read-to-write upgrade (several processes share the embedded file)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        deferred = conn.get_execution_options().get(LONG_READ, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


class Database:
    """Owns the engine; `unit_of_work()` yields a session committed on success."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._server_clock = not url.startswith("sqlite")  # measured on PostgreSQL

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            if self._server_clock and clock.due():
                # the connection now, not at the first statement: its checkout measures
                # the server's clock before this unit of work reads utcnow()
                session.connection()
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def long_read(self) -> Iterator[Session]:
        """A session that only reads (`uow.read`: pages, views, checks, and a streamed
        download for as long as it lasts); never committed. PostgreSQL: a READ ONLY
        transaction. SQLite: begun DEFERRED, so under WAL the workers keep writing
        meanwhile (every other transaction begins IMMEDIATE)."""
        with self.engine.connect() as conn:
            conn.execution_options(**{LONG_READ: True}, postgresql_readonly=True)
            with Session(bind=conn) as session:
                yield session

    def dispose(self) -> None:
        self.engine.dispose()
