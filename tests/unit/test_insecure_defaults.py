"""Settings.insecure_defaults and the start-up check of worker, beat and web."""

from __future__ import annotations

import pytest

from worker.cli import demo_secrets_in_use
from worker.settings import AgencyConfig, Settings

ALL_DEMO = ["HANDOFF_CARRIER_SECRET_KEY", "HANDOFF_ONESTOP_API_KEY", "HANDOFF_WEBHOOK_SECRET",
            "HANDOFF_SESSION_SECRET", "HANDOFF_DESK_API_TOKEN", "HANDOFF_NOTIFY_SECRET",
            "HANDOFF_DEFAULT_AGENCY"]
REAL = {"carrier_secret_key": "vnpost-real", "onestop_api_key": "onestop-real",
        "webhook_secret": "whsec_cmVhbC13ZWJob29rLXNlY3JldA==", "session_secret": "s" * 40,
        "desk_api_token": "t" * 40, "notify_secret": "whsec_cmVhbC1ub3RpZnk="}
PG = "postgresql+psycopg://u@db.example/h"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HANDOFF_"):
            monkeypatch.delenv(key)


def test_defaults_are_all_named() -> None:
    assert Settings().insecure_defaults() == ALL_DEMO


def test_real_secrets_and_agencies_leave_nothing() -> None:
    s = Settings(**REAL, agencies={"000.00.17.H19": AgencyConfig(name="UBND xã Lai Vung")})
    assert s.insecure_defaults() == []


def test_default_agency_counts_only_without_agencies() -> None:
    assert Settings(**REAL).insecure_defaults() == ["HANDOFF_DEFAULT_AGENCY"]
    own = AgencyConfig(name="Bộ phận Một cửa tỉnh", ward_code="30001")
    assert Settings(**REAL, default_agency=own).insecure_defaults() == []


def test_one_demo_secret_left() -> None:
    s = Settings(**{**REAL, "session_secret": "demo-session-secret-change-me"},
                 agencies={"A": AgencyConfig()})
    assert s.insecure_defaults() == ["HANDOFF_SESSION_SECRET"]


def test_embedded_default_starts_on_demo_values() -> None:
    assert demo_secrets_in_use(Settings()) == []


@pytest.mark.parametrize("where", [
    {"database_url": PG},
    {"broker_url": "redis://redis:6379/0"},
    {"database_url": PG, "broker_url": "redis://redis:6379/0"},
])
def test_production_refuses_demo_values(where: dict) -> None:
    assert demo_secrets_in_use(Settings(**where)) == ALL_DEMO
    assert demo_secrets_in_use(Settings(**where, allow_demo_secrets=True)) == []
    assert demo_secrets_in_use(Settings(**where, **REAL, agencies={"A": AgencyConfig()})) == []


def test_allow_demo_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_DATABASE_URL", PG)
    monkeypatch.setenv("HANDOFF_ALLOW_DEMO_SECRETS", "true")
    assert demo_secrets_in_use(Settings()) == []
