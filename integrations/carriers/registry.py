"""The adapter of each carrier route: the factory that builds a route's CarrierPort for one
account. The rest of a route's description is its RouteSpec (worker/domain/routes.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from integrations.carriers.vnpost.routes.lgsp import LgspClient
from integrations.carriers.vnpost.routes.ngsp import NgspClient
from worker.domain.enums import Route
from worker.domain.model import CarrierAccount
from worker.ports.carrier import CarrierPort
from worker.ports.quota import RateLimiter

if TYPE_CHECKING:
    from worker.settings import Settings

# route value -> its factory: (settings, account, shared limiter) -> the account's adapter
ADAPTERS: Mapping[str, Callable[[Settings, CarrierAccount, RateLimiter], CarrierPort]] = (
    MappingProxyType({
        Route.NGSP: NgspClient.for_account,  # route A: the national N-GSP gateway
        Route.LGSP: LgspClient.for_account,  # route B: the province's LGSP
    }))
