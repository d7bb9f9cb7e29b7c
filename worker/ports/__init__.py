"""The core's ports: what the service layer needs from the outside, as Protocols; adapters in
`integrations/` implement them and `worker/bootstrap.py` plugs them in."""

from __future__ import annotations

from typing import Protocol

from worker.domain.model import CarrierAccount
from worker.ports.carrier import CarrierPort
from worker.ports.notifier import NotifierPort
from worker.ports.onestop import OnestopPort


class Ports(Protocol):
    """The adapters a job handler may call (the runtime is one; a test passes fakes)."""

    def carrier_for(self, account: CarrierAccount) -> CarrierPort: ...

    @property
    def onestop(self) -> OnestopPort: ...

    @property
    def notifier(self) -> NotifierPort: ...


__all__ = ["CarrierPort", "NotifierPort", "OnestopPort", "Ports"]
