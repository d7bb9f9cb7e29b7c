"""Composition root: builds the runtime (settings, database, adapters) once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from worker.db.engine import Database
from worker.settings import Settings, get_settings

if TYPE_CHECKING:
    from integrations.carrier.port import CarrierPort
    from integrations.onestop.port import OnestopPort


@dataclass
class Runtime:
    settings: Settings
    db: Database
    _carrier: CarrierPort | None = field(default=None, repr=False)
    _onestop: OnestopPort | None = field(default=None, repr=False)

    @property
    def carrier(self) -> CarrierPort:
        if self._carrier is None:
            from integrations.carrier.client import VnpostClient

            self._carrier = VnpostClient.from_settings(self.settings)
        return self._carrier

    @property
    def onestop(self) -> OnestopPort:
        if self._onestop is None:
            from integrations.onestop.client import OnestopClient

            self._onestop = OnestopClient.from_settings(self.settings)
        return self._onestop

    def close(self) -> None:
        for port in (self._carrier, self._onestop):
            if port is not None:
                port.close()
        self.db.dispose()


_runtime: Runtime | None = None
_pid: int | None = None


def runtime(settings: Settings | None = None) -> Runtime:
    """The process's runtime, rebuilt after a fork (pool children get their own)."""
    global _runtime, _pid
    if _runtime is None or _pid != os.getpid():
        s = settings or get_settings()
        _runtime = Runtime(settings=s, db=Database(s.resolved_database_url()))
        _pid = os.getpid()
    return _runtime
