"""The agencies' post-office credentials, encrypted at rest with Fernet keys from the
environment (HANDOFF_CREDENTIALS_KEY: comma-separated, the first encrypts, all decrypt).

A copy of the database opens nothing without the key. What is decrypted lives only in
memory (a CarrierAccount) and is never written to a log, a page, an export or an error:
every failure here is told without the value or the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from worker.settings import Settings


class VaultError(Exception):
    """The key setting is unusable, or a stored value does not open with any key given."""


class WrongKey(VaultError):
    """HANDOFF_CREDENTIALS_KEY cannot open what the database already holds (key_guard.py)."""


@dataclass(frozen=True)
class Credentials:
    """One account's secrets (repr hides them)."""

    customer_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    push_secret: str = field(default="", repr=False)


def _parts(settings: Settings) -> list[str]:
    raw = settings.credentials_key.get_secret_value()
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise VaultError("HANDOFF_CREDENTIALS_KEY is empty")
    return parts


def _keys(settings: Settings) -> list[Fernet]:
    keys = []
    for n, part in enumerate(_parts(settings), 1):
        try:
            keys.append(Fernet(part.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise VaultError(f"HANDOFF_CREDENTIALS_KEY: key {n} is not a Fernet key "
                             "(url-safe base64 of 32 bytes; `handoff secrets` makes one)"
                             ) from None
    return keys


def _fernet(settings: Settings) -> MultiFernet:
    return MultiFernet(_keys(settings))


def fingerprints(settings: Settings) -> list[str]:
    """A fingerprint of each key, in order: an HMAC under the key of a fixed label (96 bits),
    so the database can tell its key from another without holding anything that opens it."""
    _keys(settings)  # a malformed key is told as such, not fingerprinted
    return [hmac.new(base64.urlsafe_b64decode(part), b"postal-handoff credentials key",
                     hashlib.sha256).hexdigest()[:24] for part in _parts(settings)]


def key_index(settings: Settings, token: str) -> int | None:
    """Which key (0: the first) opens `token`; None when none does."""
    for n, key in enumerate(_keys(settings)):
        try:
            key.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            continue
        return n
    return None


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def seal(settings: Settings, creds: Credentials) -> str:
    """The stored form of `creds`, encrypted with the first key."""
    data = json.dumps({"customer_key": creds.customer_key, "secret_key": creds.secret_key,
                       "push_secret": creds.push_secret}).encode("utf-8")
    return _fernet(settings).encrypt(data).decode("ascii")


def open_sealed(settings: Settings, token: str) -> Credentials:
    """The credentials of a stored token; VaultError (no value in it) if no key opens it."""
    try:
        data = json.loads(_fernet(settings).decrypt(token.encode("ascii")))
    except (InvalidToken, ValueError, UnicodeEncodeError):
        raise VaultError("stored credentials do not open with HANDOFF_CREDENTIALS_KEY "
                         "(a key was removed before `handoff agency rotate-key` ran?)"
                         ) from None
    return Credentials(str(data.get("customer_key", "")), str(data.get("secret_key", "")),
                       str(data.get("push_secret", "")))


def rotate(settings: Settings, token: str) -> str:
    """The same credentials encrypted again under the first key (MultiFernet.rotate)."""
    try:
        return _fernet(settings).rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError, UnicodeEncodeError):
        raise VaultError("stored credentials do not open with HANDOFF_CREDENTIALS_KEY"
                         ) from None


def check(settings: Settings) -> None:
    """Raise VaultError when the key setting cannot be used (start-up checks)."""
    _keys(settings)
