"""The embedded default broker: kombu's SQLAlchemy transport on an SQLite file, tuned.

Why not kombu's filesystem transport: under load a consumer can read a message file before
the producer has finished writing it, and the JSON error kills the worker's consumer (seen
in our flow test). The SQLAlchemy transport reads under BEGIN IMMEDIATE, so it cannot.
Three changes to it: a short polling interval (the default 1 s caps a worker at about two
tasks a second), a generous SQLite busy timeout (worker, beat and web share the file), and a
queue created by another process between kombu's look and its insert taken as found (kombu
guards that race with a lock of its own process only; the lost insert's IntegrityError
stopped a worker's consumer at start-up on a loaded machine).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as _Channel
from kombu.transport.sqlalchemy import Transport as _Transport
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError, OperationalError

SCHEME = "handoffsqlite"
URL_PREFIX = f"{SCHEME}+"
POLLING_INTERVAL = 0.05


class Channel(_Channel):
    def _engine_from_config(self) -> Any:
        conninfo = self.connection.client
        return create_engine(conninfo.hostname, connect_args={"timeout": 60},
                             hide_parameters=True)  # like every engine of ours

    def _get_or_create(self, queue: str) -> Any:
        try:
            return super()._get_or_create(queue)
        except IntegrityError:  # another process created it meanwhile: the unique name decides
            self.session.rollback()
            found = self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).first()
            if found is None:
                raise
            return found

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        try:
            return super()._get(queue)
        except OperationalError:
            # kombu commits in a `finally:` and never rolls back: after a failed commit (the
            # disk full) the session kept its connection and SQLite's write lock, each
            # reconnect left another, and the pool ran dry (the worker died of a QueuePool
            # timeout). End the transaction; the consumer reconnects as for any broker error.
            self.session.rollback()
            raise

    def close(self) -> None:
        if self._session is not None:  # give its connection back to the pool
            self._session.close()
            self._session = None
        super().close()


class Transport(_Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL


def register() -> None:
    """Make the scheme known to kombu (kombu refuses import paths inside URLs)."""
    TRANSPORT_ALIASES.setdefault(SCHEME, "worker.embedded_broker:Transport")


register()


def url_for(path: str) -> str:
    return f"{URL_PREFIX}sqlite:///{path}"
