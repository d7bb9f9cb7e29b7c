"""What services, pages and tasks work with: settings, database, the adapters behind the
ports and the bell; each adapter is built on first use by a factory the caller gives.

The service layer names no concrete adapter: `worker/bootstrap.py` (the composition root)
hands its production factories to `build_runtime`; a test passes fakes ready-made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from worker.db.engine import Database
from worker.ports import CarrierPort, NotifierPort, OnestopPort
from worker.ports.bell import Bell
from worker.settings import Settings

# The route (the way an agency's orders reach a carrier) of every agency today.
DEFAULT_ROUTE = "ngsp"

F = TypeVar("F")


@dataclass(frozen=True)
class Factories:
    """How to build each adapter from the settings (the bell from the database), by route
    for carriers. A port with no factory must be given ready-made to the Runtime."""

    carriers: Mapping[str, Callable[[Settings], CarrierPort]] = field(default_factory=dict)
    onestop: Callable[[Settings], OnestopPort] | None = None
    notifier: Callable[[Settings], NotifierPort] | None = None
    bell: Callable[[Database], Bell] | None = None


class Runtime:
    """Settings, database, adapters and bell. Adapters given to the constructor are used
    as they are; the others are built from `factories` on first use."""

    def __init__(self, settings: Settings, db: Database, *, factories: Factories = Factories(),
                 carriers: Mapping[str, CarrierPort] | None = None,
                 onestop: OnestopPort | None = None, notifier: NotifierPort | None = None,
                 bell: Bell | None = None) -> None:
        self.settings = settings
        self.db = db
        self.factories = factories
        self._carriers: dict[str, CarrierPort] = dict(carriers or {})
        self._onestop = onestop
        self._notifier = notifier
        self._bell = bell

    def __repr__(self) -> str:
        return f"Runtime(db={self.db.engine.url!r})"  # the URL repr hides the password

    def carrier_for(self, route: str) -> CarrierPort:
        """The carrier adapter of a route (KeyError for a route no adapter serves)."""
        if route not in self._carriers:
            self._carriers[route] = self.factories.carriers[route](self.settings)
        return self._carriers[route]

    @property
    def carrier(self) -> CarrierPort:
        return self.carrier_for(DEFAULT_ROUTE)

    @property
    def onestop(self) -> OnestopPort:
        if self._onestop is None:
            self._onestop = _built(self.factories.onestop, "one-stop")(self.settings)
        return self._onestop

    @property
    def notifier(self) -> NotifierPort:
        if self._notifier is None:
            self._notifier = _built(self.factories.notifier, "notifier")(self.settings)
        return self._notifier

    @property
    def bell(self) -> Bell:
        if self._bell is None:
            self._bell = _built(self.factories.bell, "bell")(self.db)
        return self._bell

    def close(self) -> None:
        for port in (*self._carriers.values(), self._onestop, self._notifier):
            if port is not None:
                port.close()
        self.db.dispose()


def _built(factory: F | None, port: str) -> F:
    """The factory of a port, or a LookupError naming the port no one provided."""
    if factory is None:
        raise LookupError(f"no {port} adapter given and no factory to build one")
    return factory
