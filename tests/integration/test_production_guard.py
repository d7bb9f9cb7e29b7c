"""Off the embedded default, worker, beat and web refuse secrets that are not really secret.

No services needed: the refusal comes before any connection (the URLs point at closed ports).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OFF_EMBEDDED = {"HANDOFF_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x",
                "HANDOFF_BROKER_URL": "redis://127.0.0.1:1/0"}
SECRET_VARS = ["HANDOFF_CARRIER_SECRET_KEY", "HANDOFF_ONESTOP_API_KEY", "HANDOFF_WEBHOOK_SECRET",
               "HANDOFF_SESSION_SECRET", "HANDOFF_NOTIFY_SECRET", "HANDOFF_CREDENTIALS_KEY"]
ISSUED = {"HANDOFF_CARRIER_SECRET_KEY": "Vn9xQ2LrT7pKcW4mZ8sB1dF6gH3jN5yA",
          "HANDOFF_ONESTOP_API_KEY": "os-key-7Gf2Lp9Qx4Rt8Vb3Nm6Kc1Wz5Hj0Yd"}
AGENCIES = {"HANDOFF_AGENCIES": '{"000.00.17.H19": {"name": "Bộ phận Một cửa UBND xã Lai Vung"}}'}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update({"HANDOFF_HOME": str(tmp_path / "home"), **OFF_EMBEDDED, **extra})
    return env


def _handoff(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def taken_port() -> Iterator[str]:
    """A port already bound: a web process that got past the guard stops at once, on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield str(sock.getsockname()[1])


def _env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.startswith("HANDOFF_") and "=" in line:
            name, value = line.split("=", 1)
            out[name] = value.strip("'")
    return out


def _generated(tmp_path: Path) -> dict[str, str]:
    """What `handoff secrets` prints, read as an operator would paste it."""
    out = _handoff(_env(tmp_path), "secrets")
    assert out.returncode == 0, out.stderr
    return dict(line.split("=", 1) for line in out.stdout.splitlines()
                if line and not line.startswith("#"))


@pytest.mark.parametrize("command", [["worker"], ["beat"], ["web"]])
def test_refuses_to_start_on_demo_secrets(tmp_path: Path, command: list[str]) -> None:
    out = _handoff(_env(tmp_path), *command)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    for name in SECRET_VARS:
        assert name in out.stderr, name
    assert "handoff secrets" in out.stderr and "HANDOFF_ALLOW_DEMO_SECRETS" in out.stderr
    assert not (tmp_path / "home").exists()  # refused before touching anything


@pytest.mark.parametrize("command", [["worker"], ["beat"], ["web"]])
def test_a_copied_env_example_is_refused_and_no_value_is_printed(tmp_path: Path,
                                                                 command: list[str]) -> None:
    example = _env_example()
    env = _env(tmp_path, **{k: v for k, v in example.items()
                            if k not in ("HANDOFF_DATABASE_URL", "HANDOFF_BROKER_URL",
                                         "HANDOFF_HOME")})
    out = _handoff(env, *command)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    for name in SECRET_VARS:
        assert name in out.stderr, name
        assert example[name] not in out.stderr.replace(name, "")  # named, never shown


def test_the_forged_cookie_secret_cannot_start_web(tmp_path: Path, taken_port: str) -> None:
    """Issue 7 case 4: the session secret from .env.example signed a forged ops cookie.
    With every other secret real, that one value alone keeps web from starting."""
    env = _env(tmp_path, **{**ISSUED, **_generated(tmp_path), **AGENCIES,
                            "HANDOFF_SESSION_SECRET": _env_example()["HANDOFF_SESSION_SECRET"]})
    out = _handoff(env, "web", "--port", taken_port)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "HANDOFF_SESSION_SECRET: is the placeholder from .env.example" in out.stderr
    for name in SECRET_VARS:
        if name != "HANDOFF_SESSION_SECRET":
            assert name not in out.stderr, name


@pytest.mark.parametrize("variable, value, reason", [
    ("HANDOFF_WEBHOOK_SECRET", "whsec_change-me", "placeholder from .env.example"),
    ("HANDOFF_NOTIFY_SECRET", "whsec_Y2hhbmdlLW1l", "decodes to 9 bytes"),
    ("HANDOFF_SESSION_SECRET", "", "is empty"),
    ("HANDOFF_CARRIER_SECRET_KEY", "k", "shorter than 32 bytes"),
    ("HANDOFF_ONESTOP_API_KEY", "production-DEMO-key-at-least-32-bytes", "'demo'"),
])
def test_one_weak_secret_is_enough_to_refuse(tmp_path: Path, variable: str, value: str,
                                             reason: str) -> None:
    env = _env(tmp_path, **{**ISSUED, **_generated(tmp_path), **AGENCIES, variable: value})
    out = _handoff(env, "worker")
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert f"{variable}: " in out.stderr and reason in out.stderr
    assert sum(name in out.stderr for name in SECRET_VARS) == 1


def test_a_generated_set_passes_the_guard(tmp_path: Path, taken_port: str) -> None:
    """Past the guard, `handoff web` goes on to bind its port (taken here, so it stops
    there with uvicorn's own error) and says nothing about secrets."""
    env = _env(tmp_path, **ISSUED, **_generated(tmp_path), **AGENCIES)
    out = _handoff(env, "web", "--port", taken_port)
    assert out.returncode != 2, out.stderr[-2000:]
    assert "address already in use" in out.stderr.lower()
    assert "refusing to start" not in out.stderr
    assert not any(name in out.stderr for name in SECRET_VARS)


def test_allow_demo_secrets_starts_a_staging_run_with_a_warning(tmp_path: Path,
                                                                taken_port: str) -> None:
    env = _env(tmp_path, HANDOFF_ALLOW_DEMO_SECRETS="true")
    out = _handoff(env, "web", "--port", taken_port)
    assert "address already in use" in out.stderr.lower()
    assert "refusing to start" not in out.stderr
    assert "warning: HANDOFF_ALLOW_DEMO_SECRETS=true" in out.stderr
    assert "HANDOFF_SESSION_SECRET" in out.stderr  # the warning names what is public


def test_allow_demo_secrets_does_not_admit_a_placeholder(tmp_path: Path) -> None:
    env = _env(tmp_path, HANDOFF_ALLOW_DEMO_SECRETS="true",
               HANDOFF_SESSION_SECRET=_env_example()["HANDOFF_SESSION_SECRET"])
    out = _handoff(env, "beat")
    assert out.returncode == 2
    assert "HANDOFF_SESSION_SECRET: is the placeholder from .env.example" in out.stderr
