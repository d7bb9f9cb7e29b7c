"""Route A: straight to the national N-GSP gateway (contract sections 1-4).

`Authorization: Bearer <token>`; each call has its own path under the base URL (wire.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from integrations.carriers.vnpost import wire
from integrations.carriers.vnpost.gateway import CarrierGateway, Target
from integrations.carriers.vnpost.tokens.cache import token_dir
from worker.domain.model import CarrierAccount
from worker.ports.carrier import CarrierPort
from worker.ports.quota import RateLimiter

if TYPE_CHECKING:
    from worker.settings import Settings


class NgspClient(CarrierGateway):
    """CarrierPort of one account over the N-GSP gateway at `base_url`."""

    def __init__(self, base_url: str, account: CarrierAccount, **kwargs: Any) -> None:
        self._base = base_url.rstrip("/") + "/"
        super().__init__(account, self._base + wire.TOKEN_PATH, **kwargs)

    @classmethod
    def for_account(cls, settings: Settings, account: CarrierAccount,
                    limiter: RateLimiter) -> CarrierPort:
        """Route A's factory in the adapter registry (integrations/carriers/registry.py)."""
        return cls(settings.carrier_base_url, account, limiter=limiter,
                   token_dir=token_dir(settings), timeout=settings.carrier_timeout_seconds)

    def _post_target(self) -> Target:
        return Target(self._base + wire.POST_PATH, label=wire.POST_PATH)

    def _tracking_target(self, params: dict[str, str]) -> Target:
        return Target(self._base + wire.TRACKING_PATH, params, wire.TRACKING_PATH)

    def _cancel_target(self, params: dict[str, str]) -> Target:
        return Target(self._base + wire.CANCEL_PATH, params, wire.CANCEL_PATH)

    def _auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

