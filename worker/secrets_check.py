"""The rules for the deployment's secrets: the start-up check and fresh values."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets as token_source
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from worker.settings import Settings

# Every secret the processes hold. Webhook-style ones are Standard Webhooks keys.
SECRETS = ("carrier_secret_key", "onestop_api_key", "webhook_secret", "session_secret",
           "notify_secret", "credentials_key")
WEBHOOK_STYLE = frozenset({"webhook_secret", "notify_secret"})
FERNET_STYLE = frozenset({"credentials_key"})  # comma-separated Fernet keys
# Issued by the other side: `handoff secrets` cannot make them, only say where they come from.
ISSUED = {"carrier_secret_key": "issued by Vietnam Post with the customer key",
          "onestop_api_key": "issued by the one-stop system's operator"}

MIN_BYTES = 32  # a secret's length in UTF-8 bytes
MIN_ISSUED_BYTES = 16  # an issued one's: WSO2-style gateways issue 28 characters
MIN_KEY_BYTES = 24  # a whsec_ key's decoded length
PLACEHOLDER_WORDS = ("change-me", "demo")
# `.env.example`'s values, so a copied example file never starts (the image does not ship
# that file; tests/unit/test_env_example.py keeps the two in step).
EXAMPLE_VALUES = {
    "carrier_secret_key": "change-me-carrier-secret",
    "onestop_api_key": "change-me-onestop-api-key",
    "webhook_secret": "whsec_change-me",
    "session_secret": "change-me-long-random-session-secret",
    "notify_secret": "whsec_change-me",
    "credentials_key": "change-me-credentials-key",
}
ALLOW_SWITCH = "HANDOFF_ALLOW_DEMO_SECRETS"


@dataclass(frozen=True)
class Problem:
    """One setting that stops a production process, and why (never its value)."""

    variable: str
    reason: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.reason}"


def env_name(field: str) -> str:
    return f"HANDOFF_{field.upper()}"


def demo_value(field: str) -> str:
    """The built-in default of a secret: public, in the source, accepted by the simulators."""
    default = Settings.model_fields[field].default
    assert isinstance(default, SecretStr)
    return default.get_secret_value()


# In an issued value a placeholder word counts only standing alone: a random 28-character
# secret holds the letters "demo" about once in 40,000, and its issuer will not re-issue it.
_STANDALONE_WORD = re.compile(
    r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, PLACEHOLDER_WORDS)) + r")(?![a-z0-9])",
    re.IGNORECASE)


def has_placeholder_word(text: str | bytes, *, standalone: bool = False) -> bool:
    """Whether `text` holds "change-me" or "demo" (only as a word of its own: `standalone`)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if standalone:
        return _STANDALONE_WORD.search(text) is not None
    low = text.lower()
    return any(word in low for word in PLACEHOLDER_WORDS)


def whsec_key(value: str) -> bytes | None:
    """The key bytes of a `whsec_<base64>` secret, or None when it is not one."""
    if not value.startswith("whsec_"):
        return None
    try:
        return base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return None


def value_problem(field: str, value: str) -> str | None:
    """Why this value cannot be a production secret for `field`; None when it can."""
    if not value:
        return "is empty"
    if value == demo_value(field):
        return "is the built-in demo value, public in the source code"
    if value == EXAMPLE_VALUES.get(field):
        return "is the placeholder from .env.example"
    if has_placeholder_word(value, standalone=field in ISSUED):
        return "contains 'change-me' or 'demo': a placeholder, not a secret"
    if field in ISSUED:
        # taken as issued: only the issuer checks it (a WSO2-style gateway issues 28
        # characters), so ours is only a floor that no real issued secret is under
        if len(value.encode("utf-8")) < MIN_ISSUED_BYTES:
            return f"is shorter than {MIN_ISSUED_BYTES} bytes: not a secret anyone issues"
        return None
    if field in FERNET_STYLE:
        return _fernet_problem(value)
    if field in WEBHOOK_STYLE:
        key = whsec_key(value)
        if key is None:
            return "is not 'whsec_' followed by base64 (Standard Webhooks secret)"
        if len(key) < MIN_KEY_BYTES:
            return f"decodes to {len(key)} bytes; at least {MIN_KEY_BYTES} are needed"
        if has_placeholder_word(key):
            return "decodes to text containing 'change-me' or 'demo': a placeholder"
        return None
    if len(value.encode("utf-8")) < MIN_BYTES:
        return f"is shorter than {MIN_BYTES} bytes"
    return None


def bearer_token_problem(value: str) -> str | None:
    """Why an optional bearer token of ours (HANDOFF_METRICS_TOKEN) cannot guard production."""
    if has_placeholder_word(value):
        return "contains 'change-me' or 'demo': a placeholder, not a secret"
    if len(value.encode("utf-8")) < MIN_BYTES:
        return f"is shorter than {MIN_BYTES} bytes"
    return None


def _fernet_problem(value: str) -> str | None:
    """Each comma-separated key must be url-safe base64 of 32 random bytes; none may be the
    demo key (an old demo key left in the list would still open what it sealed)."""
    demo = demo_value("credentials_key")
    for n, key in enumerate((k.strip() for k in value.split(",")), 1):
        if key == demo:
            return f"key {n} is the built-in demo key, public in the source code"
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            return (f"key {n} is not a Fernet key (url-safe base64 of 32 bytes); "
                    "`handoff secrets` makes one")
        if has_placeholder_word(raw):
            return f"key {n} decodes to text containing 'change-me' or 'demo': a placeholder"
    return None


def _url_password_problem(variable: str, url: str) -> Problem | None:
    """A database or broker URL still carrying `.env.example`'s placeholder password."""
    try:
        password = make_url(url).password if url else None
    except Exception:  # not a URL SQLAlchemy can read: the connection will say so itself
        return None
    if password and has_placeholder_word(str(password)):
        return Problem(variable, "its password contains 'change-me' or 'demo': a placeholder")
    return None


def secret_problems(settings: Settings) -> list[Problem]:
    """Every reason a production process must not start; empty on the embedded default.

    The embedded default (SQLite database and broker: demo and development on one machine)
    runs on the demo values. Elsewhere each secret must be real. HANDOFF_ALLOW_DEMO_SECRETS
    (staging against the simulators, which accept nothing else) admits exactly the built-in
    demo values, never a placeholder, an empty, short or
    malformed value: those are mistakes, not staging.
    """
    if settings.on_embedded_default:
        return []
    allow = settings.allow_demo_secrets
    found: list[Problem] = []
    for field in SECRETS:
        value = getattr(settings, field).get_secret_value()
        if allow and value == demo_value(field):
            continue
        reason = value_problem(field, value)
        if reason:
            found.append(Problem(env_name(field), reason))
    if settings.metrics_token is not None:  # optional: unset, /metrics is off
        reason = bearer_token_problem(settings.metrics_token.get_secret_value())
        if reason:
            found.append(Problem(env_name("metrics_token"), reason))
    for variable, url in (("HANDOFF_DATABASE_URL", settings.database_url),
                          ("HANDOFF_BROKER_URL", settings.broker_url)):
        problem = _url_password_problem(variable, url)
        if problem:
            found.append(problem)
    return found


def demo_values_admitted(settings: Settings) -> list[str]:
    """The variables a staging run (HANDOFF_ALLOW_DEMO_SECRETS) runs on demo values."""
    if settings.on_embedded_default or not settings.allow_demo_secrets:
        return []
    return [env_name(f) for f in SECRETS
            if getattr(settings, f).get_secret_value() == demo_value(f)]


def fresh_value(field: str) -> str:
    """A new random value in the right format for `field` that passes `value_problem`."""
    while True:  # a random text may spell "demo" (about 1 in 25,000): draw again
        if field in WEBHOOK_STYLE:
            value = "whsec_" + base64.b64encode(os.urandom(32)).decode("ascii")
        elif field in FERNET_STYLE:
            value = base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
        else:
            value = token_source.token_urlsafe(48)
        if value_problem(field, value) is None:
            return value


def fresh_env_lines() -> list[str]:
    """`.env` lines: new values for the secrets we own, comments for the issued ones."""
    lines = []
    for field in SECRETS:
        if field in ISSUED:
            lines.append(f"# {env_name(field)}: {ISSUED[field]}; set it to that value")
        else:
            lines.append(f"{env_name(field)}={fresh_value(field)}")
    return lines
