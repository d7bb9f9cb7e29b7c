"""What services, pages and tasks work with: settings, database, the adapters behind the
ports and the bell; each adapter is built on first use by a factory the caller gives.

The service layer names no concrete adapter: `worker/bootstrap.py` (the composition root)
hands its production factories to `build_runtime`; a test passes fakes ready-made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from worker.db.engine import Database
from worker.domain.errors import InvalidInput
from worker.domain.model import CarrierAccount
from worker.domain.routes import choices
from worker.ports import CarrierPort, NotifierPort, OnestopPort
from worker.ports.bell import Bell
from worker.ports.quota import RateLimiter
from worker.service.agencies import default_account
from worker.settings import Settings

# Builds the adapter of one account on its route: (settings, account, shared limiter).
CarrierFactory = Callable[[Settings, CarrierAccount, RateLimiter], CarrierPort]

F = TypeVar("F")

# Replaced carrier adapters kept open for the threads that may still be using them.
RETIRED_KEPT = 8


@dataclass(frozen=True)
class Factories:
    """How to build each adapter from the settings (the bell and the quota limiter from the
    database too); carriers by route, the adapter registry. A port with no factory must be
    given ready-made to the Runtime."""

    carriers: Mapping[str, CarrierFactory] = field(default_factory=dict)
    onestop: Callable[[Settings], OnestopPort] | None = None
    notifier: Callable[[Settings], NotifierPort] | None = None
    bell: Callable[[Settings, Database], Bell] | None = None
    limiter: Callable[[Settings, Database], RateLimiter] | None = None


class Runtime:
    """Settings, database, adapters and bell. Adapters given to the constructor are used
    as they are; the others are built from `factories` on first use."""

    def __init__(self, settings: Settings, db: Database, *, factories: Factories = Factories(),
                 carriers: Mapping[str, CarrierPort] | None = None,
                 onestop: OnestopPort | None = None, notifier: NotifierPort | None = None,
                 bell: Bell | None = None, limiter: RateLimiter | None = None) -> None:
        self.settings = settings
        self.db = db
        self.factories = factories
        # a carrier given ready-made serves every account of its route (tests' fakes)
        self._given: dict[str, CarrierPort] = dict(carriers or {})
        self._carriers: dict[str, CarrierPort] = {}  # by CarrierAccount.key
        self._onestop = onestop
        self._notifier = notifier
        self._bell = bell
        self._limiter = limiter
        # the rows of one bell message run on threads of one process (jobs/together.py): an
        # adapter is built, or rebuilt for new credentials, by one of them at a time
        self._building = threading.RLock()
        self._retired: list[CarrierPort] = []  # replaced adapters, closed later (_retire)

    def __repr__(self) -> str:
        return f"Runtime(db={self.db.engine.url!r})"  # the URL repr hides the password

    @property
    def default_account(self) -> CarrierAccount:
        """The deployment's own account (HANDOFF_CARRIER_*), on route A."""
        return default_account(self.settings)

    def carrier_for(self, account: CarrierAccount) -> CarrierPort:
        """The adapter of one account, built once per process from its route's factory.
        A route no adapter serves (a stored value no route has) is refused: a permanent
        error naming the field, so the job goes to a person instead of being retried."""
        if account.route in self._given:
            return self._given[account.route]
        factory = self.factories.carriers.get(account.route)
        if factory is None:
            raise InvalidInput(f"tài khoản {account.key}: không có tuyến '{account.route}'; "
                               f"chỉ có: {choices()}", field="route", code="agency.choice")
        with self._building:
            known = self._carriers.get(account.key)
            if known is None or getattr(known, "account", account) != account:
                if known is not None:  # credentials or quota changed: a fresh client
                    self._retire(known)
                known = factory(self.settings, account, self.limiter)
                self._carriers[account.key] = known
            return known

    @property
    def limiter(self) -> RateLimiter:
        with self._building:
            if self._limiter is None:
                self._limiter = _built(self.factories.limiter, "quota limiter")(self.settings,
                                                                               self.db)
            return self._limiter

    @property
    def onestop(self) -> OnestopPort:
        with self._building:
            if self._onestop is None:
                self._onestop = _built(self.factories.onestop, "one-stop")(self.settings)
            return self._onestop

    @property
    def notifier(self) -> NotifierPort:
        with self._building:
            if self._notifier is None:
                self._notifier = _built(self.factories.notifier, "notifier")(self.settings)
            return self._notifier

    @property
    def bell(self) -> Bell:
        with self._building:
            if self._bell is None:
                self._bell = _built(self.factories.bell, "bell")(self.settings, self.db)
            return self._bell

    def _retire(self, old: CarrierPort) -> None:
        """An adapter replaced by a fresh one: other threads may be mid-call on it, so it is
        closed only once RETIRED_KEPT newer ones were retired after it (or at close)."""
        self._retired.append(old)
        while len(self._retired) > RETIRED_KEPT:
            self._retired.pop(0).close()

    def close(self) -> None:
        for port in (*self._carriers.values(), *self._given.values(), *self._retired,
                     self._onestop, self._notifier):
            if port is not None:
                port.close()
        self.db.dispose()


def _built(factory: F | None, port: str) -> F:
    """The factory of a port, or a LookupError naming the port no one provided."""
    if factory is None:
        raise LookupError(f"no {port} adapter given and no factory to build one")
    return factory
