"""Off the embedded default, worker, beat and web refuse the public demo secrets.

No services needed: the refusal comes before any connection (the URLs point at closed ports).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from worker.cli import demo_secrets_in_use
from worker.settings import Settings

OFF_EMBEDDED = {"HANDOFF_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x",
                "HANDOFF_BROKER_URL": "redis://127.0.0.1:1/0"}
DEMO_NAMED = ["HANDOFF_CARRIER_SECRET_KEY", "HANDOFF_ONESTOP_API_KEY", "HANDOFF_WEBHOOK_SECRET",
              "HANDOFF_SESSION_SECRET", "HANDOFF_DESK_API_TOKEN", "HANDOFF_NOTIFY_SECRET",
              "HANDOFF_DEFAULT_AGENCY"]
REAL = {
    "HANDOFF_CARRIER_SECRET_KEY": "vnpost-issued-secret",
    "HANDOFF_ONESTOP_API_KEY": "onestop-issued-key",
    "HANDOFF_WEBHOOK_SECRET": "whsec_cHJvZHVjdGlvbi13ZWJob29rLXNlY3JldC0zMiE=",
    "HANDOFF_SESSION_SECRET": "a-long-random-production-session-secret",
    "HANDOFF_DESK_API_TOKEN": "a-long-random-production-desk-token",
    "HANDOFF_NOTIFY_SECRET": "whsec_cHJvZHVjdGlvbi1ub3RpZnktc2VjcmV0IQ==",
    "HANDOFF_AGENCIES": '{"000.00.17.H19": {"name": "Bộ phận Một cửa UBND xã Lai Vung"}}',
}


def _env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update({"HANDOFF_HOME": str(tmp_path), **OFF_EMBEDDED, **extra})
    return env


@pytest.mark.parametrize("command", [["worker"], ["beat"], ["web"]])
def test_refuses_to_start_on_demo_secrets(tmp_path, command: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "worker.cli", *command], env=_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    for name in DEMO_NAMED:
        assert name in out.stderr, name
    assert "HANDOFF_ALLOW_DEMO_SECRETS" in out.stderr
    assert not list(tmp_path.iterdir())  # refused before touching anything


def test_one_demo_secret_is_enough_to_refuse(tmp_path) -> None:
    env = _env(tmp_path, **{**REAL, "HANDOFF_SESSION_SECRET": "demo-session-secret-change-me"})
    out = subprocess.run([sys.executable, "-m", "worker.cli", "worker"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "HANDOFF_SESSION_SECRET" in out.stderr
    assert "HANDOFF_CARRIER_SECRET_KEY" not in out.stderr


def test_real_secrets_and_agencies_pass(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("HANDOFF_"):
            monkeypatch.delenv(key)
    for key, value in {"HANDOFF_HOME": str(tmp_path), **OFF_EMBEDDED, **REAL}.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert not settings.on_embedded_default
    assert settings.insecure_defaults() == []
    assert demo_secrets_in_use(settings) == []


def test_allow_demo_secrets_lets_a_staging_run_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("HANDOFF_"):
            monkeypatch.delenv(key)
    for key, value in {**OFF_EMBEDDED, "HANDOFF_ALLOW_DEMO_SECRETS": "true"}.items():
        monkeypatch.setenv(key, value)
    assert demo_secrets_in_use(Settings()) == []
