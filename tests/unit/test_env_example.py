"""`.env.example` documents every setting, and only real ones."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from worker.secrets_check import EXAMPLE_VALUES, SECRETS, secret_problems
from worker.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _entries() -> list[tuple[int, str, str]]:
    """(line number, name, value) of every assignment; quotes around the value removed."""
    out = []
    for no, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f".env.example:{no}: not NAME=value: {line!r}"
        name, value = m.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out.append((no, name, value))
    return out


def _fields() -> dict[str, str]:
    return {f"HANDOFF_{name.upper()}": name for name in Settings.model_fields}


def test_every_setting_is_documented() -> None:
    names = {name for _, name, _ in _entries()}
    missing = set(_fields()) - names
    assert not missing, f"missing from .env.example: {sorted(missing)}"


def test_every_handoff_name_is_a_real_setting() -> None:
    fields = _fields()
    unknown = [f"line {no}: {name}" for no, name, _ in _entries()
               if name.startswith("HANDOFF_") and name not in fields]
    assert not unknown, f"not Settings fields: {unknown}"


def test_no_setting_is_listed_twice() -> None:
    names = [name for _, name, _ in _entries()]
    assert len(names) == len(set(names))


def test_every_setting_has_a_comment_with_its_default() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for no, name, _ in _entries():
        if not name.startswith("HANDOFF_"):
            continue
        block = []
        i = no - 2
        while i >= 0 and lines[i].startswith("#"):
            block.append(lines[i])
            i -= 1
        assert block, f"{name} has no comment line above it"
        assert "default" in " ".join(block).lower(), f"{name}'s comment does not give its default"


def _use_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment holds exactly the HANDOFF_ values of .env.example."""
    for key in list(os.environ):
        if key.startswith("HANDOFF_"):
            monkeypatch.delenv(key)
    for _, name, value in _entries():
        if name.startswith("HANDOFF_"):
            monkeypatch.setenv(name, value)


def test_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example parses: JSON for agencies, numbers within bounds."""
    _use_example(monkeypatch)
    s = Settings()
    assert s.agencies and all(a.dispatch in ("auto", "desk") for a in s.agencies.values())
    assert s.agencies["000.00.17.H19"].dispatch == "desk"
    assert s.default_agency.dispatch == "auto"


def test_the_guard_knows_every_placeholder_secret_of_this_file() -> None:
    """The image does not ship .env.example, so the guard keeps its values; they must agree."""
    values = {name: value for _, name, value in _entries()}
    assert {f"HANDOFF_{f.upper()}": EXAMPLE_VALUES[f] for f in SECRETS} == {
        f"HANDOFF_{f.upper()}": values[f"HANDOFF_{f.upper()}"] for f in SECRETS}


def test_the_example_as_is_cannot_start_production(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_example(monkeypatch)
    monkeypatch.setenv("HANDOFF_DATABASE_URL", "postgresql+psycopg://handoff@postgres/handoff")
    named = {p.variable for p in secret_problems(Settings())}
    assert named >= {f"HANDOFF_{f.upper()}" for f in SECRETS}
