"""The post-office adapters, one per route (the registry in worker/bootstrap.py picks one
per account): route A `NgspClient` (national N-GSP gateway), route B `LgspClient` (the
province's LGSP). Shared plumbing in gateway.py, shared wire in mapping.py."""

from __future__ import annotations

from integrations.carrier.gateway import DEFAULT_ATTEMPTS, DEFAULT_WAIT, CarrierGateway
from integrations.carrier.lgsp import LgspClient, LgspDoor
from integrations.carrier.ngsp import NgspClient, VnpostClient
from integrations.carrier.token_cache import TOKEN_MARGIN_S

__all__ = ["DEFAULT_ATTEMPTS", "DEFAULT_WAIT", "TOKEN_MARGIN_S", "CarrierGateway",
           "LgspClient", "LgspDoor", "NgspClient", "VnpostClient"]
