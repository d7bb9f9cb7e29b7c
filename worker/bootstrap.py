"""Composition root: builds the runtime (settings, database, adapters, bell) once per process."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from integrations.carrier.client import VnpostClient
from integrations.notify.client import WebhookNotifier
from integrations.onestop.client import OnestopClient
from worker.db.engine import Database
from worker.dispatcher import CeleryBell
from worker.ports import CarrierPort, NotifierPort, OnestopPort
from worker.ports.bell import Bell
from worker.settings import Settings, get_settings

# One carrier adapter per route (the way an agency's orders reach a carrier), each built
# from the settings on first use. A second route is one more line here.
CARRIER_ROUTES: dict[str, Callable[[Settings], CarrierPort]] = {
    "ngsp": VnpostClient.from_settings,  # VNPost N-GSP gateway
}
DEFAULT_ROUTE = "ngsp"


class Runtime:
    """Settings, database, adapters and bell: what services, pages and tasks work with.

    Adapters are built on first use. A test passes its own through the constructor:
    ``Runtime(settings=..., db=..., carriers={"ngsp": fake}, bell=ListBell())``.
    """

    def __init__(self, settings: Settings, db: Database, *,
                 carriers: Mapping[str, CarrierPort] | None = None,
                 onestop: OnestopPort | None = None, notifier: NotifierPort | None = None,
                 bell: Bell | None = None) -> None:
        self.settings = settings
        self.db = db
        self._carriers: dict[str, CarrierPort] = dict(carriers or {})
        self._onestop = onestop
        self._notifier = notifier
        self._bell = bell

    def __repr__(self) -> str:
        return f"Runtime(db={self.db.engine.url!r})"  # the URL repr hides the password

    def carrier_for(self, route: str) -> CarrierPort:
        """The carrier adapter of a route (KeyError for a route no adapter serves)."""
        if route not in self._carriers:
            self._carriers[route] = CARRIER_ROUTES[route](self.settings)
        return self._carriers[route]

    @property
    def carrier(self) -> CarrierPort:
        return self.carrier_for(DEFAULT_ROUTE)

    @property
    def onestop(self) -> OnestopPort:
        if self._onestop is None:
            self._onestop = OnestopClient.from_settings(self.settings)
        return self._onestop

    @property
    def notifier(self) -> NotifierPort:
        if self._notifier is None:
            self._notifier = WebhookNotifier.from_settings(self.settings)
        return self._notifier

    @property
    def bell(self) -> Bell:
        if self._bell is None:
            self._bell = CeleryBell(self.db)
        return self._bell

    def close(self) -> None:
        for port in (*self._carriers.values(), self._onestop, self._notifier):
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
