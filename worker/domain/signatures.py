"""A carrier push secret made ready to check signatures: HMAC-SHA256 over the raw body, hex."""

from __future__ import annotations

import hashlib
import hmac


class PushKey:
    """A push secret made ready to check signatures. The HMAC's key is set up once, so a
    check costs the same whatever the secret (its length included), and a stand-in key for
    an unknown agency costs what a real one does. Its repr never shows the secret."""

    __slots__ = ("_mac",)

    def __init__(self, secret: str) -> None:
        self._mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "PushKey(…)"

    def verify(self, body: bytes, signature: str | None) -> bool:
        """True when `signature` is the body's HMAC in hex, upper or lower case (the
        contract says lowercase; case carries nothing), compared in constant time."""
        mac = self._mac.copy()
        mac.update(body)
        given = (signature or "").strip().encode("utf-8", "replace").lower()
        return hmac.compare_digest(mac.hexdigest().encode("ascii"), given)
