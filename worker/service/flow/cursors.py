"""The feed cursors' names: the one-stop feed's, and one per carrier account's tracking feed."""

from __future__ import annotations

import hashlib

from worker.domain.model import CarrierAccount

CARRIER_CURSOR = "carrier-tracking"
ONESTOP_CURSOR = "onestop-handoffs"
ACCOUNT_CURSOR_PREFIX = "ct:"  # an agency's own account's tracking feed: "ct:<account key>"


def carrier_cursor(account: CarrierAccount, default_key: str) -> str:
    """The cursor (and lease) name of an account's feed; the default account keeps the
    name it always had. At most 35 characters, so "poll:" + it fits a lease name."""
    if account.key == default_key:
        return CARRIER_CURSOR
    name = f"{ACCOUNT_CURSOR_PREFIX}{account.key}"
    return name if len(name) <= 35 else ACCOUNT_CURSOR_PREFIX + hashlib.sha256(
        account.key.encode("utf-8")).hexdigest()[:24]
