"""The rules for an agency's own post-office account: which values production refuses."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from worker.secrets_check import (
    EXAMPLE_VALUES,
    SECRETS,
    Problem,
    demo_value,
    has_placeholder_word,
)
from worker.service.agencies.vault import Credentials
from worker.settings import Settings

# Every value a shipped file makes public (the example agencies ship in the package and
# the image) is refused for each of these.
AGENCY_CREDENTIALS = ("customer_key", "secret_key", "push_secret")
# Only the push secret is ours to judge for length and randomness. The customer key and
# secret key are OAuth2 client credentials the post office's WSO2-style gateway issues
# (contracts/carrier-vnpost-ngsp.md; WSO2 issues 28-character secrets by default): we must
# take what it gives, and only it checks them, at its own door. The push secret alone
# guards our push URL (contract, "Status push": a per-account shared secret for a URL the
# customer registers, nothing saying the post office picks it), one captured push lets
# anyone test guesses against it offline, and an agency without one still gets every
# milestone from the feed: so a weak one is refused rather than trusted.
OURS = frozenset({"push_secret"})
EXAMPLE_AGENCIES = Path(__file__).resolve().parents[2] / "examples" / "agencies.json"
MIN_PUSH_SECRET_CHARS = 32
MIN_BITS_PER_CHAR = 2.0  # random digits give 3.1-3.3; "abab..." gives 1
MIN_DISTINCT_TRIGRAMS = 0.5  # random text ~1.0; "password-password-..." 0.3


@lru_cache(maxsize=1)
def public_values() -> frozenset[str]:
    """Every credential value a shipped file or the source code makes public: the example
    agencies' accounts (read from the shipped file, so the two never drift apart),
    .env.example's placeholders and the built-in demo values."""
    data = json.loads(EXAMPLE_AGENCIES.read_text(encoding="utf-8"))
    found = {entry[name] for entry in data.values() for name in AGENCY_CREDENTIALS
             if isinstance(entry.get(name), str)}
    found |= set(EXAMPLE_VALUES.values()) | {demo_value(f) for f in SECRETS}
    found.add(str(Settings.model_fields["carrier_customer_key"].default))
    return frozenset(found)


def low_entropy(value: str) -> bool:
    """Few distinct characters (under MIN_BITS_PER_CHAR by character frequency) or one
    pattern repeated (under half of its 3-character pieces distinct)."""
    counts = Counter(value)
    bits = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    pieces = [value[i:i + 3] for i in range(len(value) - 2)]
    return bits < MIN_BITS_PER_CHAR or len(set(pieces)) < MIN_DISTINCT_TRIGRAMS * len(pieces)


def _placeholder(field: str, value: str) -> bool:
    return has_placeholder_word(value, standalone=field not in OURS)


def agency_credential_problem(settings: Settings, field: str, value: str
                              ) -> tuple[str, str] | None:
    """Why `value` cannot be an agency's `field` here: (code, reason in English), or None.

    The embedded default takes any value (demo, development). Elsewhere a value a shipped
    file makes public is refused (HANDOFF_ALLOW_DEMO_SECRETS admits exactly those, for a
    staging run against the simulators), and so is a placeholder; the push secret must also
    be long and not of low entropy (OURS). An empty value is one not given (kept as
    stored): one given empty is refused by domain/agency_spec.py.
    """
    if settings.on_embedded_default or not value:
        return None
    if value in public_values():
        if settings.allow_demo_secrets:
            return None
        return "public", "is a value of a shipped example file or a built-in demo value: public"
    if _placeholder(field, value):
        return "placeholder", "contains 'change-me' or 'demo': a placeholder, not a secret"
    if field not in OURS:
        return None
    if len(value) < MIN_PUSH_SECRET_CHARS:
        return "short", f"is shorter than {MIN_PUSH_SECRET_CHARS} characters"
    if low_entropy(value):
        return "low_entropy", "has low entropy (few distinct characters or a repeated pattern)"
    return None


def stored_agency_problems(settings: Settings, accounts: Iterable[tuple[str, Credentials]]
                           ) -> list[Problem]:
    """Each stored agency credential that would be refused today, named by agency and
    field, never by value; empty on the embedded default."""
    found = []
    for code, creds in accounts:
        for field in AGENCY_CREDENTIALS:
            problem = agency_credential_problem(settings, field, getattr(creds, field))
            if problem:
                found.append(Problem(f"agency {code} {field}", problem[1]))
    return found


def public_values_admitted(settings: Settings, accounts: Iterable[tuple[str, Credentials]]
                           ) -> list[str]:
    """The stored agency credentials a staging run (HANDOFF_ALLOW_DEMO_SECRETS) runs on
    public values: "agency CODE field"."""
    if settings.on_embedded_default or not settings.allow_demo_secrets:
        return []
    return [f"agency {code} {field}" for code, creds in accounts
            for field in AGENCY_CREDENTIALS if getattr(creds, field) in public_values()]
