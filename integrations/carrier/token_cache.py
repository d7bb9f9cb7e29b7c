"""A post-office access token per account, shared by the processes of one machine.

Every worker runs a pool of processes; each used to fetch its own token, so a machine
asked the post office for `pool size` tokens per expiry window (the contract wants one).
The token now lives in a file per account under ``<home>/tokens`` (directory 0700, file
0600), read and written under an exclusive ``fcntl.flock`` on the account's lock file:
the first process that finds no valid token fetches one while holding the lock, the
others wait for it and read it. A per-process copy in memory sits in front, so the file is
opened only when that copy runs out or the post office refuses it (HTTP 401).

Times are wall-clock (``time.time``): the file is read by other processes, which share no
monotonic clock. The file holds the token, never the credentials; its name is a hash.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from worker.domain.model import CarrierAccount

if TYPE_CHECKING:
    from worker.settings import Settings

log = logging.getLogger(__name__)

TOKEN_MARGIN_S = 60.0  # refresh this long before the token runs out (at most 10 % of it)
DIR_MODE, FILE_MODE = 0o700, 0o600

Fetch = Callable[[], tuple[str, float]]  # -> (token, expires_in seconds)


def token_dir(settings: Settings) -> Path:
    """Where the processes of this machine share their tokens (one file per account)."""
    return settings.home / "tokens"


def cache_name(account: CarrierAccount, door_url: str) -> str:
    """The account's file name: a hash of its key, route, login URL and customer key (one
    account reached two ways, or whose key changed, gets another file); no secret in it."""
    parts = (account.key, str(account.route), door_url, account.customer_key)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def fingerprint(account: CarrierAccount) -> str:
    """What tells the credentials a token was fetched with apart, without holding them: an
    HMAC of the customer key under the secret (the file it goes in is private, and holds
    the live token anyway)."""
    return hmac.new(account.secret_key.encode("utf-8", "surrogatepass"),
                    account.customer_key.encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def valid_until(expires_in: float, now: float) -> float:
    """When to stop using a token that lives `expires_in` seconds from `now`."""
    return now + expires_in - min(TOKEN_MARGIN_S, 0.1 * expires_in)


class TokenCache:
    """Memory in front of an optional shared file (``directory`` None: memory only)."""

    def __init__(self, directory: Path | None, name: str, *,
                 clock: Callable[[], float] = time.time, credentials: str = "") -> None:
        self._dir = directory
        self._name = name
        # which credentials a shared token was fetched with (see `fingerprint`): a token of
        # older credentials is not reused once ops changed them
        self._credentials = credentials
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
        self._dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # not ours to change (a shared mount): leave it
            os.chmod(self._dir, DIR_MODE)
        fd = os.open(self._path(".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> tuple[str, float] | None:
        """(token, valid_until) from the file; None when absent or unreadable (refetched)."""
        try:
            data = json.loads(self._path(".json").read_text(encoding="utf-8"))
            token, until = data["token"], float(data["valid_until"])
            if data.get("credentials", "") != self._credentials:
                return None  # fetched with other credentials: log in with the new ones
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("carrier token cache file %s unreadable; fetching a new token",
                        self._name)
            return None
        return (token, until) if isinstance(token, str) and token else None

    def _write(self, token: str, until: float) -> None:
        """Atomically: a private temporary file, then os.replace. A failure to write costs
        only the sharing (the token is still used by this process)."""
        final = self._path(".json")
        tmp = self._path(f".{os.getpid()}.{threading.get_ident()}.tmp")
        body = json.dumps({"token": token, "valid_until": until, "written_at": self._clock(),
                           "credentials": self._credentials})
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            log.warning("carrier token cache file %s not written (%s)", self._name,
                        type(exc).__name__)
            with contextlib.suppress(OSError):
                tmp.unlink()
