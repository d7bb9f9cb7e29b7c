"""The shared token file remembers which credentials fetched its token without storing
anything cheap to test guesses against: a token is reused by a client with the same
credentials, never by one with others (ops changed the secret: log in again)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from integrations.carriers.vnpost.tokens.cache import TokenCache, cache_name, fingerprint
from worker.domain.enums import Route
from worker.domain.model import CarrierAccount

DOOR = "https://post.example/token"
SECRET, OTHER = "weak-SECRET-1", "weak-SECRET-2"


def account(secret: str) -> CarrierAccount:
    return CarrierAccount(Route.NGSP, "C0042", "customer-key-42", secret)


class Door:
    """The post office's token door: hands out numbered tokens and counts the requests."""

    def __init__(self) -> None:
        self.requests = 0

    def fetch(self) -> tuple[str, float]:
        self.requests += 1
        return f"token-{self.requests}", 3600.0


def client(tmp_path: Path, secret: str) -> TokenCache:
    """A client's cache in a new process (nothing in memory yet), on the shared directory."""
    acc = account(secret)
    return TokenCache(tmp_path, cache_name(acc, DOOR), credentials=fingerprint(acc))


def stored(tmp_path: Path) -> dict[str, object]:
    (found,) = tmp_path.glob("*.json")
    data: dict[str, object] = json.loads(found.read_text())
    return data


def test_a_token_is_reused_with_the_same_secret_and_not_with_another(tmp_path: Path) -> None:
    door = Door()
    assert client(tmp_path, SECRET).get(door.fetch) == "token-1"
    assert client(tmp_path, SECRET).get(door.fetch) == "token-1"  # another process: shared
    assert door.requests == 1
    assert client(tmp_path, OTHER).get(door.fetch) == "token-2"  # ops changed the secret
    assert door.requests == 2
    assert client(tmp_path, OTHER).get(door.fetch) == "token-2"
    assert client(tmp_path, SECRET).get(door.fetch) == "token-3"  # and back: the file's
    assert door.requests == 3  # token was the other secret's


def test_the_file_holds_a_salted_slow_fingerprint_not_an_hmac_of_the_secret(
        tmp_path: Path) -> None:
    first = client(tmp_path, SECRET)
    first.get(Door().fetch)
    data = stored(tmp_path)
    assert set(data) == {"token", "valid_until", "written_at", "salt", "credentials"}
    text = json.dumps(data)
    assert SECRET not in text and "customer-key-42" not in text
    cheap = hmac.new(SECRET.encode(), b"customer-key-42", hashlib.sha256).hexdigest()
    assert data["credentials"] != cheap  # the former design: millions of guesses a second
    salt = str(data["salt"])
    assert len(bytes.fromhex(salt)) == 16
    material = json.dumps(["customer-key-42", SECRET]).encode()
    assert data["credentials"] == hashlib.scrypt(material, salt=bytes.fromhex(salt),
                                                 n=2**14, r=8, p=1, dklen=32).hex()
    # another client writes under its own salt: no table computed for one salt serves all
    tmp2 = tmp_path / "elsewhere"
    client(tmp2, SECRET).get(Door().fetch)
    assert stored(tmp2)["salt"] != salt


def test_a_file_of_the_former_design_is_not_reused_and_is_rewritten(tmp_path: Path) -> None:
    acc = account(SECRET)
    name = cache_name(acc, DOOR)
    cheap = hmac.new(SECRET.encode(), b"customer-key-42", hashlib.sha256).hexdigest()
    (tmp_path / f"{name}.json").write_text(json.dumps(
        {"token": "old-token", "valid_until": 9e12, "written_at": 0, "credentials": cheap}))
    door = Door()
    assert client(tmp_path, SECRET).get(door.fetch) == "token-1"
    assert stored(tmp_path)["credentials"] != cheap and "salt" in stored(tmp_path)


def test_the_fingerprint_is_computed_once_per_salt_and_shows_nothing() -> None:
    fp = fingerprint(account(SECRET))
    salt = fp.new_salt()
    first = fp.under(salt)
    assert first is not None and fp.under(salt) is first  # remembered, not recomputed
    assert fp.under("not hex") is None and fp.under("00") is None
    assert SECRET not in repr(fp) and SECRET not in repr(client(Path("."), SECRET))
