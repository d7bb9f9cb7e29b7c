"""Composition root: the one place that names the concrete adapters; builds the runtime
(settings, database, adapters, bell) once per process."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from integrations.notify.client import WebhookNotifier
from integrations.onestop.client import OnestopClient
from worker.db.engine import Database
from worker.ports import CarrierPort, NotifierPort, OnestopPort
from worker.ports.bell import Bell
from worker.ports.quota import RateLimiter
from worker.service.agencies.quota import DatabaseBucket
from worker.service.runtime import CarrierFactory, Factories, Runtime
from worker.settings import Settings, get_settings

# The carrier adapters, Celery and the Redis client load when a process first uses them
# (its first order, ring or Redis quota): most `handoff` commands use none of them, and
# loading all three took about a quarter of a second of CPU in each.


def quota_limiter(settings: Settings, db: Database) -> RateLimiter:
    """The carrier quota's shared bucket: in Redis when the broker is Redis (production),
    else in the database (the embedded default), so that every process shares it."""
    if settings.broker_url.startswith(("redis://", "rediss://")):
        from integrations.quota.redis_bucket import RedisBucket  # lazy (see above)

        return RedisBucket.from_settings(settings)
    return DatabaseBucket.from_settings(settings, db)


def celery_bell(settings: Settings, db: Database) -> Bell:
    """The bell of the deployment: Celery on its broker."""
    from worker.launch.celery_app import CeleryBell  # lazy (see above)

    return CeleryBell(settings, db)


class CarrierRegistry(Mapping[str, CarrierFactory]):
    """integrations/carriers/registry.py's ADAPTERS (route -> factory), read at first use."""

    @staticmethod
    def _adapters() -> Mapping[str, CarrierFactory]:
        from integrations.carriers.registry import ADAPTERS  # lazy (see above)

        return ADAPTERS

    def __getitem__(self, route: str) -> CarrierFactory:
        return self._adapters()[route]

    def __iter__(self) -> Iterator[str]:
        return iter(self._adapters())

    def __len__(self) -> int:
        return len(self._adapters())


# Each adapter is built from the settings on first use. Carriers are keyed by route (the
# way an agency's orders reach the post office): the carrier's adapter registry.
PRODUCTION = Factories(
    carriers=CarrierRegistry(),
    onestop=OnestopClient.from_settings,
    notifier=WebhookNotifier.from_settings,
    bell=celery_bell,
    limiter=quota_limiter,
)


def build_runtime(settings: Settings, db: Database, *,
                  carriers: Mapping[str, CarrierPort] | None = None,
                  onestop: OnestopPort | None = None, notifier: NotifierPort | None = None,
                  bell: Bell | None = None) -> Runtime:
    """A runtime whose adapters are the production ones, but for those given here (a test
    passes fakes: ``build_runtime(settings, db, carriers={"ngsp": fake}, bell=ListBell())``)."""
    return Runtime(settings, db, factories=PRODUCTION, carriers=carriers, onestop=onestop,
                   notifier=notifier, bell=bell)


_runtime: Runtime | None = None
_pid: int | None = None


def runtime(settings: Settings | None = None) -> Runtime:
    """The process's runtime, rebuilt after a fork (pool children get their own)."""
    global _runtime, _pid
    if _runtime is None or _pid != os.getpid():
        s = settings or get_settings()
        _runtime = build_runtime(s, Database(s.resolved_database_url()))
        _pid = os.getpid()
    return _runtime
