"""Route B: through the province's LGSP (contract, "Route B").

Its own token URL; every call goes to one gateway URL with ``?service=<name>`` (names are
per-province settings) and the token in an ``access_token`` header. Replies carry Status as
a string ("100"), which wire.py's parsers read like route A's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.carriers.vnpost.gateway import CarrierGateway, Target
from integrations.carriers.vnpost.routes import lgsp_wire
from integrations.carriers.vnpost.tokens.cache import token_dir
from worker.domain.model import CarrierAccount
from worker.ports.carrier import CarrierPort
from worker.ports.quota import RateLimiter

if TYPE_CHECKING:
    from worker.settings import Settings


@dataclass(frozen=True)
class LgspDoor:
    """The province's LGSP: where to log in, the gateway, and its service names."""

    token_url: str
    base_url: str
    post_service: str = lgsp_wire.POST_SERVICE
    tracking_service: str = lgsp_wire.TRACKING_SERVICE
    cancel_service: str = lgsp_wire.CANCEL_SERVICE

    @classmethod
    def from_settings(cls, settings: Settings) -> LgspDoor:
        return cls(settings.lgsp_token_url, settings.lgsp_base_url, settings.lgsp_service_post,
                   settings.lgsp_service_tracking, settings.lgsp_service_cancel)


class LgspClient(CarrierGateway):
    """CarrierPort of one account over the province's LGSP."""

    def __init__(self, door: LgspDoor, account: CarrierAccount, **kwargs: Any) -> None:
        self.door = door
        super().__init__(account, door.token_url, **kwargs)

    @classmethod
    def for_account(cls, settings: Settings, account: CarrierAccount,
                    limiter: RateLimiter) -> CarrierPort:
        """Route B's factory in the adapter registry (integrations/carriers/registry.py)."""
        return cls(LgspDoor.from_settings(settings), account, limiter=limiter,
                   token_dir=token_dir(settings), timeout=settings.carrier_timeout_seconds)

    def _target(self, service: str, params: dict[str, str] | None = None) -> Target:
        return Target(self.door.base_url, lgsp_wire.service_params(service, params), service)

    def _post_target(self) -> Target:
        return self._target(self.door.post_service)

    def _tracking_target(self, params: dict[str, str]) -> Target:
        return self._target(self.door.tracking_service, params)

    def _cancel_target(self, params: dict[str, str]) -> Target:
        return self._target(self.door.cancel_service, params)

    def _auth_headers(self, token: str) -> dict[str, str]:
        return lgsp_wire.auth_headers(token)
