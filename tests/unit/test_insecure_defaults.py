"""The secrets rules (worker/secrets_check.py, and worker/service/agencies/agency_secrets.py for an
agency's own account): what keeps worker, beat and web from starting."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from worker.secrets_check import (
    EXAMPLE_VALUES,
    SECRETS,
    demo_values_admitted,
    fresh_env_lines,
    has_placeholder_word,
    secret_problems,
    value_problem,
)
from worker.service.agencies.agency_secrets import AGENCY_CREDENTIALS, agency_credential_problem
from worker.settings import AgencyConfig, Settings

PG = "postgresql+psycopg://u@db.example/h"
REDIS = "redis://redis:6379/0"
AGENCIES = {"000.00.17.H19": AgencyConfig(name="UBND xã Lai Vung")}
ALL_SECRET_VARS = ["HANDOFF_CARRIER_SECRET_KEY", "HANDOFF_ONESTOP_API_KEY",
                   "HANDOFF_WEBHOOK_SECRET", "HANDOFF_SESSION_SECRET", "HANDOFF_NOTIFY_SECRET",
                   "HANDOFF_CREDENTIALS_KEY"]


def real() -> dict[str, str]:
    """A production-like set: issued credentials as long random strings, ours from the CLI."""
    values = {"carrier_secret_key": "Vn9xQ2LrT7pKcW4mZ8sB1dF6gH3jN5yA",
              "onestop_api_key": "os-key-7Gf2Lp9Qx4Rt8Vb3Nm6Kc1Wz5Hj0Yd"}
    for line in fresh_env_lines():
        if not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name.removeprefix("HANDOFF_").lower()] = value
    return values


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("HANDOFF_"):
            monkeypatch.delenv(key)


def variables(settings: Settings) -> list[str]:
    return [p.variable for p in secret_problems(settings)]


def test_embedded_default_starts_on_demo_values() -> None:
    assert secret_problems(Settings()) == []


@pytest.mark.parametrize("where", [{"database_url": PG}, {"broker_url": REDIS},
                                   {"database_url": PG, "broker_url": REDIS}])
def test_off_the_embedded_default_every_demo_value_is_named(where: dict) -> None:
    assert variables(Settings(**where)) == ALL_SECRET_VARS


def test_a_generated_set_with_agencies_starts() -> None:
    assert secret_problems(Settings(database_url=PG, **real(), agencies=AGENCIES)) == []


def test_sender_blocks_are_not_a_start_up_matter() -> None:
    # Agencies live in the database now (`handoff agency add` checks each sender block);
    # the environment's blocks only seed a fresh database.
    assert variables(Settings(database_url=PG, **real())) == []


def test_credentials_key_must_be_fernet_keys_none_of_them_the_demo_one() -> None:
    fresh = real()["credentials_key"]
    demo = Settings.model_fields["credentials_key"].default.get_secret_value()
    assert secret_problems(Settings(database_url=PG, **{**real(),
                                    "credentials_key": f"{fresh},{fresh}"})) == []
    for bad, why in ((f"{fresh},{demo}", "key 2 is the built-in demo key"),
                     ("not-a-key", "key 1 is not a Fernet key")):
        problems = secret_problems(Settings(database_url=PG, **{**real(),
                                            "credentials_key": bad}))
        assert [p.variable for p in problems] == ["HANDOFF_CREDENTIALS_KEY"]
        assert why in problems[0].reason and fresh not in problems[0].reason


@pytest.mark.parametrize("field", SECRETS)
def test_the_env_example_placeholder_is_refused(field: str) -> None:
    s = Settings(database_url=PG, **{**real(), field: EXAMPLE_VALUES[field]}, agencies=AGENCIES)
    problems = secret_problems(s)
    assert [p.variable for p in problems] == [f"HANDOFF_{field.upper()}"]
    assert EXAMPLE_VALUES[field] not in str(problems[0])  # the value is never repeated


@pytest.mark.parametrize(("field", "value", "reason"), [
    *[(field, value, reason) for field in ("carrier_secret_key", "onestop_api_key",
                                           "session_secret")
      for value, reason in [
          ("", "empty"),
          ("a-long-random-looking-value-with-DEMO-inside-it", "'demo'"),
          ("Change-Me-please-this-is-at-least-32-bytes-long", "'change-me'")]],
    ("session_secret", "x", "shorter than 32 bytes"),
    ("session_secret", "x" * 31, "shorter than 32 bytes"),
    # issued by the post office and the one-stop operator: only a floor of ours
    ("carrier_secret_key", "x" * 15, "shorter than 16 bytes"),
    ("onestop_api_key", "x", "shorter than 16 bytes"),
])
def test_weak_plain_secrets_are_refused_with_the_reason(field: str, value: str,
                                                        reason: str) -> None:
    s = Settings(database_url=PG, **{**real(), field: value}, agencies=AGENCIES)
    problems = secret_problems(s)
    assert [p.variable for p in problems] == [f"HANDOFF_{field.upper()}"]
    assert reason in problems[0].reason


@pytest.mark.parametrize("field", ["carrier_secret_key", "onestop_api_key"])
def test_an_issued_secret_is_taken_as_issued(field: str) -> None:
    """A WSO2-style gateway issues 28-character secrets, which may hold "demo" by chance."""
    for value in ("TIDlOFkpzB7WjufO3OJUhy1fsvAa", "k8DemoQ2xLr9Vn3TzPw7HsYb4Fc1"):
        s = Settings(database_url=PG, **{**real(), field: value}, agencies=AGENCIES)
        assert secret_problems(s) == []


def test_thirty_two_bytes_is_enough_and_counts_bytes_not_letters() -> None:
    assert value_problem("session_secret", "k" * 32) is None
    assert value_problem("session_secret", "ư" * 16) is None  # 2 bytes each in UTF-8
    assert value_problem("session_secret", "ư" * 15) is not None


@pytest.mark.parametrize("value, reason", [
    ("whsec_change-me", "placeholder from .env.example"),
    ("whsec_Y2hhbmdl", "decodes to 6 bytes"),  # base64 of "change": the old quiet key
    ("whsec_c2hvcnQta2V5", "decodes to 9 bytes"),
    ("c2VjcmV0LXdpdGhvdXQtdGhlLXByZWZpeC0zMmJ5dGVzISE=", "not 'whsec_'"),
    ("whsec_not base64 at all!!", "not 'whsec_'"),
    ("whsec_ZGVtby1kZW1vLWRlbW8tZGVtby1kZW1vLWRlbW8=", "decodes to text containing"),
    ("", "empty"),
])
@pytest.mark.parametrize("field", ["webhook_secret", "notify_secret"])
def test_webhook_secrets_must_be_whsec_base64_of_24_bytes(field: str, value: str,
                                                          reason: str) -> None:
    s = Settings(database_url=PG, **{**real(), field: value}, agencies=AGENCIES)
    problems = secret_problems(s)
    assert [p.variable for p in problems] == [f"HANDOFF_{field.upper()}"]
    assert reason in problems[0].reason


def test_allow_demo_secrets_admits_only_the_built_in_demo_values() -> None:
    staging = Settings(database_url=PG, allow_demo_secrets=True)
    assert secret_problems(staging) == []
    assert demo_values_admitted(staging) == ALL_SECRET_VARS
    copied = Settings(database_url=PG, allow_demo_secrets=True,
                      **{f: EXAMPLE_VALUES[f] for f in SECRETS})
    assert variables(copied) == ALL_SECRET_VARS  # a copied .env.example is a mistake
    short = Settings(database_url=PG, allow_demo_secrets=True, session_secret="x")
    assert variables(short) == ["HANDOFF_SESSION_SECRET"]


def test_allow_demo_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_DATABASE_URL", PG)
    monkeypatch.setenv("HANDOFF_ALLOW_DEMO_SECRETS", "true")
    assert secret_problems(Settings()) == []


def test_a_placeholder_database_password_is_refused() -> None:
    url = "postgresql+psycopg://handoff:change-me-postgres-password@postgres:5432/handoff"
    s = Settings(database_url=url, **real(), agencies=AGENCIES)
    assert variables(s) == ["HANDOFF_DATABASE_URL"]
    assert "change-me-postgres-password" not in str(secret_problems(s)[0])


def test_handoff_secrets_prints_our_secrets_and_names_the_issued_ones() -> None:
    lines = fresh_env_lines()
    assignments = dict(line.split("=", 1) for line in lines if not line.startswith("#"))
    assert set(assignments) == {"HANDOFF_WEBHOOK_SECRET", "HANDOFF_SESSION_SECRET",
                                "HANDOFF_NOTIFY_SECRET", "HANDOFF_CREDENTIALS_KEY"}
    assert all(assignments[k].startswith("whsec_")
               for k in ("HANDOFF_WEBHOOK_SECRET", "HANDOFF_NOTIFY_SECRET"))
    comments = " ".join(line for line in lines if line.startswith("#"))
    assert "HANDOFF_CARRIER_SECRET_KEY" in comments and "HANDOFF_ONESTOP_API_KEY" in comments
    again = dict(line.split("=", 1) for line in fresh_env_lines() if not line.startswith("#"))
    assert not set(again.values()) & set(assignments.values())  # fresh every time


# --- an agency's own account (`handoff agency ...`): worker/service/agencies/agency_secrets.py ----

EXAMPLE_AGENCIES = json.loads(
    (Path(__file__).resolve().parents[2] / "worker/examples/agencies.json").read_text("utf-8"))
SHIPPED = sorted({(field, entry[field]) for entry in EXAMPLE_AGENCIES.values()
                  for field in AGENCY_CREDENTIALS if field in entry})

def _random_push_secret() -> str:
    """A random secret as a person draws one; one spelling "demo" or "change-me" (about 1 in
    25,000 draws) is refused as a placeholder and drawn again, as fresh_value does (a CI run
    met one: 'Mf0goA0aWh-TNiVY9udemOHB...')."""
    while has_placeholder_word(value := secrets.token_urlsafe(32)):
        pass
    return value


RANDOM = _random_push_secret()


def test_every_credential_of_the_shipped_example_file_is_refused_off_the_embedded_default(
        ) -> None:
    assert len(SHIPPED) == 6  # two own accounts: customer_key, secret_key, push_secret each
    for field, value in SHIPPED:
        assert agency_credential_problem(Settings(database_url=PG), field, value) == (
            "public", "is a value of a shipped example file or a built-in demo value: public")
        assert agency_credential_problem(Settings(), field, value) is None  # embedded
        assert agency_credential_problem(  # staging against the simulators
            Settings(database_url=PG, allow_demo_secrets=True), field, value) is None


WSO2_SHAPED = secrets.token_urlsafe(21)  # 28 characters, as the post office's gateway issues


@pytest.mark.parametrize(("field", "value", "code"), [
    ("secret_key", "demo-secret", "public"),  # the built-in demo account
    ("customer_key", "demo-key", "public"),
    ("push_secret", "change-me-push-secret-at-least-32-chars", "placeholder"),
    ("push_secret", "Qx4Rt8Vb3Nm6Kc1Wz5Hj", "short"),  # 20: enough before, not now
    ("push_secret", "a" * 40, "low_entropy"),
    ("push_secret", "ab12" * 10, "low_entropy"),
    ("push_secret", "password-password-password-password", "low_entropy"),
    ("push_secret", "Xk4ZfK8b2pDemoR7uT1nVxQ9wA3mLe5sHj", "placeholder"),  # ours: draw again
    # drawn afresh each run: named, so every pytest-xdist worker collects the same test ids
    pytest.param("push_secret", RANDOM, None, id="push_secret-random-None"),
    # issued by the post office: taken as issued, only public values and placeholders refused
    pytest.param("secret_key", WSO2_SHAPED, None, id="secret_key-wso2-shaped-None"),
    ("secret_key", "Qx4Rt8Vb3Nm6Kc1Wz5Hj", None),
    ("secret_key", "Xk4ZfK8b2pDemoR7uT1nVxQ9wA3a", None),  # "demo" inside a random run
    ("secret_key", "my-demo-secret", "placeholder"),
    ("secret_key", "CHANGE-ME", "placeholder"),
    ("customer_key", "change-me", "placeholder"),
    ("customer_key", "C0042-key", None),  # names the account: not a secret, no length rule
])
def test_an_agency_push_secret_must_be_long_and_random_an_issued_key_only_not_public(
        field: str, value: str, code: str | None) -> None:
    found = agency_credential_problem(Settings(database_url=PG), field, value)
    assert (found[0] if found else None) == code
    if code and code != "public":  # HANDOFF_ALLOW_DEMO_SECRETS admits only shipped values
        assert agency_credential_problem(
            Settings(database_url=PG, allow_demo_secrets=True), field, value) is not None
