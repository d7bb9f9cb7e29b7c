"""A post-office access token per account, shared by the processes of one machine.

Every worker runs a pool of processes; each used to fetch its own token, so a machine
asked the post office for `pool size` tokens per expiry window (the contract wants one).
The token now lives in a file per account under ``<home>/tokens`` (directory 0700, file
0600, both private to the service user: see files.py, which refuses a folder others
own or may write and never opens a file through a symlink), read and written under an
exclusive ``fcntl.flock`` on the account's lock file:
the first process that finds no valid token fetches one while holding the lock, the
others wait for it and read it. A per-process copy in memory sits in front, so the file is
opened only when that copy runs out or the post office refuses it (HTTP 401).

Times are wall-clock (``time.time``): the file is read by other processes, which share no
monotonic clock. The file holds the token, never the credentials; its name is a hash. It
also holds a fingerprint of the credentials the token was fetched with (see `Fingerprint`),
so a token of older credentials is not reused once ops change them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from integrations.carriers.vnpost.tokens.files import (
    checked_folder,
    open_lock,
    read_private,
    write_private,
)
from worker.domain.model import CarrierAccount

if TYPE_CHECKING:
    from worker.settings import Settings

log = logging.getLogger(__name__)

TOKEN_MARGIN_S = 60.0  # refresh this long before the token runs out (at most 10 % of it)

Fetch = Callable[[], tuple[str, float]]  # -> (token, expires_in seconds)


def token_dir(settings: Settings) -> Path:
    """Where the processes of this machine share their tokens (one file per account)."""
    return settings.home / "tokens"


def cache_name(account: CarrierAccount, door_url: str) -> str:
    """The account's file name: a hash of its key, route, login URL and customer key (one
    account reached two ways, or whose key changed, gets another file); no secret in it."""
    parts = (account.key, str(account.route), door_url, account.customer_key)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


# scrypt's cost: 16 MiB and some tens of milliseconds per guess (RFC 7914's interactive
# setting). Paid once per client and salt: a process computes it when it first reads a file
# of another salt or first writes one, then remembers it.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16


class Fingerprint:
    """Tells the credentials a shared token was fetched with apart, without storing anything
    a reader of the token file could test guesses at a weak secret against cheaply.

    Stored: a random salt and scrypt(customer key + secret, salt). An HMAC of the customer
    key under the secret (the former design) let whoever reads the file try millions of
    guesses a second offline; scrypt makes every guess cost 16 MiB and tens of milliseconds,
    and the salt (new for each writer, not per account) defeats tables computed ahead. What
    the file reveals otherwise is the live token, good only until it runs out; the secret
    outlives it. The salt travels in the file, so a process that reads a token of another
    process computes the fingerprint under that salt (once: results are kept per salt).

    Holds the secret in memory only (the adapter holds it anyway); its repr shows nothing.
    """

    def __init__(self, account: CarrierAccount) -> None:
        self._material = json.dumps([account.customer_key, account.secret_key]).encode(
            "utf-8", "surrogatepass")
        self._by_salt: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Fingerprint(<hidden>)"

    def new_salt(self) -> str:
        return secrets.token_hex(SALT_BYTES)

    def under(self, salt: str) -> str | None:
        """The fingerprint under `salt` (hex, as stored); None for a salt that is not one."""
        try:
            raw_salt = bytes.fromhex(salt)
        except (ValueError, TypeError):
            return None
        if len(raw_salt) != SALT_BYTES:
            return None
        with self._lock:
            known = self._by_salt.get(salt)
            if known is None:
                known = hashlib.scrypt(self._material, salt=raw_salt, n=SCRYPT_N, r=SCRYPT_R,
                                       p=SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32).hex()
                if len(self._by_salt) >= 8:  # writers' salts: a handful per account
                    self._by_salt.clear()
                self._by_salt[salt] = known
            return known


def fingerprint(account: CarrierAccount) -> Fingerprint:
    """The account's `Fingerprint` (computes nothing until a token file is read or written)."""
    return Fingerprint(account)


def valid_until(expires_in: float, now: float) -> float:
    """When to stop using a token that lives `expires_in` seconds from `now`."""
    return now + expires_in - min(TOKEN_MARGIN_S, 0.1 * expires_in)


class TokenCache:
    """Memory in front of an optional shared file (``directory`` None: memory only)."""

    def __init__(self, directory: Path | None, name: str, *,
                 clock: Callable[[], float] = time.time,
                 credentials: Fingerprint | None = None) -> None:
        self._dir = directory
        self._name = name
        # which credentials a shared token was fetched with (see `Fingerprint`): a token of
        # older credentials is not reused once ops changed them
        self._credentials = credentials
        self._salt = ""  # the salt this process writes with: the last one that matched
        self._clock = clock
        self._lock = threading.Lock()  # one fetch per process at a time (threads)
        self._token: str | None = None
        self._valid_until = 0.0

    def __repr__(self) -> str:  # never shows the token
        return f"TokenCache(name={self._name!r}, shared={self._dir is not None})"

    def get(self, fetch: Fetch) -> str:
        """A token still valid, or a new one from `fetch`: one fetch per expiry window for
        every thread of this process and, with a directory, every process of the machine."""
        with self._lock:
            if self._token is not None and self._clock() < self._valid_until:
                return self._token
            self._token = None
            if self._dir is None:
                token, until = self._fetched(fetch)
            else:
                with self._locked():
                    stored = self._read()
                    if stored is not None and self._clock() < stored[1]:
                        token, until = stored
                    else:
                        token, until = self._fetched(fetch)
                        self._write(token, until)
            self._token, self._valid_until = token, until
            return token

    def drop(self, used: str) -> None:
        """Forget `used` after a 401, here and in the file, unless someone already replaced
        it (another thread or process refreshed it: keep theirs)."""
        with self._lock:
            if self._token == used:
                self._token = None
            if self._dir is None:
                return
            with self._locked():
                stored = self._read()
                if stored is not None and stored[0] == used:
                    with contextlib.suppress(FileNotFoundError):
                        self._path(".json").unlink()

    # --- file --------------------------------------------------------------------------
    def _fetched(self, fetch: Fetch) -> tuple[str, float]:
        token, expires_in = fetch()
        return token, valid_until(expires_in, self._clock())

    def _path(self, suffix: str) -> Path:
        assert self._dir is not None
        return self._dir / f"{self._name}{suffix}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        assert self._dir is not None
        checked_folder(self._dir)  # UnsafeTokenFolder: nothing is read or written there
        fd = open_lock(self._path(".lock"))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> tuple[str, float] | None:
        """(token, valid_until) from the file; None when absent or unreadable (refetched);
        UnsafeTokenFolder for a symlink or a file not private to this user."""
        try:
            text = read_private(self._path(".json"))
            if text is None:
                return None
            data = json.loads(text)
            token, until = data["token"], float(data["valid_until"])
            if not self._same_credentials(data.get("salt"), data.get("credentials")):
                return None  # fetched with other credentials: log in with the new ones
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("carrier token cache file %s unreadable; fetching a new token",
                        self._name)
            return None
        return (token, until) if isinstance(token, str) and token else None

    def _same_credentials(self, salt: object, stored: object) -> bool:
        """Whether a file's (salt, fingerprint) are those of our credentials. A file of the
        former design (no salt) is not: its token is fetched again, once, and the file
        rewritten without the cheap-to-test HMAC."""
        if self._credentials is None:
            return not stored
        if not isinstance(salt, str) or not isinstance(stored, str):
            return False
        ours = self._credentials.under(salt)
        if ours is None or not hmac.compare_digest(ours, stored):
            return False
        self._salt = salt  # known now: writing under it costs nothing more
        return True

    def _stored_credentials(self) -> dict[str, str]:
        if self._credentials is None:
            return {}
        if not self._salt:
            self._salt = self._credentials.new_salt()
        return {"salt": self._salt, "credentials": self._credentials.under(self._salt) or ""}

    def _write(self, token: str, until: float) -> None:
        """Atomically, never through a planted file (token_files.write_private). A failure
        to write costs only the sharing (the token is still used by this process); a
        planted file is refused (UnsafeTokenFolder)."""
        body = json.dumps({"token": token, "valid_until": until, "written_at": self._clock(),
                           **self._stored_credentials()})
        try:
            write_private(self._path(".json"), body)
        except OSError as exc:
            log.warning("carrier token cache file %s not written (%s)", self._name,
                        type(exc).__name__)
