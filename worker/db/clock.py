"""The one clock every stamp is read from: the database server's.

Every process stamps rows with `utcnow()`: when a ledger row is due, when a lease or a
job's claim runs out, when an SLA limit was passed. Processes run on several machines and
share one PostgreSQL, so a machine whose clock is wrong would put rows due in its future
(they wait for the true time to catch up, whoever runs them), take rows early (a
Retry-After not honoured), see live leases as run out (two holders at once) and mark SLA
breaches before the limit. So each process measures how far its clock is from the
server's (one `clock_timestamp()`, halfway through the round trip) and `utcnow()` adds
that offset: every stamp is on the server's clock, whichever machine writes it.

Below `TRUSTED_S` the clocks agree (NTP keeps machines within milliseconds); the offset
is then left at zero, so measuring noise never moves a stamp. The embedded default has no
server (SQLite runs in each process on one machine): its processes share the machine's
clock and nothing is measured.

Celery's expiry of a periodic ring is on the server's clock too
(worker/launch/celery_app.py).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

log = logging.getLogger(__name__)

TRUSTED_S = 0.5  # clocks this close agree: no correction
NOISE_S = 0.1  # a measurement this close to the offset applied changes nothing
REFRESH_S = 60.0  # a process measures again at most this often (clocks drift, NTP steps)

# one process-wide pair of values, each assigned at once (no lock: a pool process forked
# while another thread held one would wait for ever)
_state = {"offset": 0.0, "measured": float("-inf")}


def utcnow() -> datetime:
    """The time now by the database server's clock (timezone-aware UTC)."""
    now = datetime.now(UTC)
    offset = _state["offset"]
    return now + timedelta(seconds=offset) if offset else now


def offset() -> float:
    """Seconds to add to this process's clock to read the server's (0.0 when they agree)."""
    return _state["offset"]


def set_offset(seconds: float) -> None:
    """Take a measured offset. Applied past TRUSTED_S, dropped again only under half of it
    (an offset near the bound does not flip each minute), and a new measurement within
    NOISE_S of the one applied changes nothing (a stamp never moves by measuring noise,
    nor runs backwards by it); a change is logged once."""
    before = _state["offset"]
    drop_under = TRUSTED_S / 2 if before else TRUSTED_S
    if abs(seconds) <= drop_under:
        kept = 0.0
    elif before and abs(seconds - before) < NOISE_S:
        kept = before
    else:
        kept = seconds
    _state["offset"], _state["measured"] = kept, time.monotonic()
    if kept != before and (not kept or not before or abs(kept - before) > TRUSTED_S):
        if kept:
            log.warning("this machine's clock is %.1f s %s the database server's: every "
                        "stamp uses the server's clock", abs(kept),
                        "behind" if kept > 0 else "ahead of")
        else:
            log.warning("this machine's clock agrees with the database server's again")


def measure(dbapi_conn: Any) -> float:
    """Offset of this process's clock from the server's, read on a DB-API connection
    (PostgreSQL). Ends the transaction the query began."""
    cur = dbapi_conn.cursor()
    try:
        before = time.time()
        cur.execute("SELECT extract(epoch FROM clock_timestamp())")
        server = float(cur.fetchone()[0])
        after = time.time()
    finally:
        cur.close()
        dbapi_conn.rollback()
    return server - (before + after) / 2


def due() -> bool:
    return time.monotonic() - _state["measured"] >= REFRESH_S


def follow_engine(engine: Any) -> None:
    """Measure on the engine's connections (PostgreSQL only): on the first, then at most
    every REFRESH_S, when a connection is checked out. A failed measurement changes
    nothing (the statement that follows meets the same fault and reports it)."""
    def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if not due():
            return
        _state["measured"] = time.monotonic()  # one try per period, even when it fails
        try:
            set_offset(measure(dbapi_conn))
        except Exception as err:  # noqa: BLE001 — the caller's own statement reports it
            log.debug("clock not measured: %s", type(err).__name__)

    event.listen(engine, "checkout", _checkout)


def measure_once(engine: Any) -> None:
    """Measure now on a connection of `engine` (PostgreSQL) and close it: for a Celery main
    process (worker, beat), which has no database session of its own. In its main thread,
    before the worker forks its pool; never a thread of its own: one running while a
    process forks (inside libpq, or holding a lock libfaketime or the C library takes)
    leaves the child waiting for ever on a lock nobody will release (seen once: a worker
    with libfaketime preloaded hung in its start-up while such a thread ran).
    A database down changes nothing (the offset stays as it was). The measuring itself is
    `follow_engine`'s, on the connection's checkout (make_engine installs it)."""
    try:
        with engine.connect():
            pass
    except Exception as err:  # noqa: BLE001 — the processes' own statements report it
        log.debug("clock not measured: %s", type(err).__name__)
    finally:
        engine.dispose()
