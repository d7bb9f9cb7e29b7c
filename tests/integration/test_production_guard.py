"""Off the embedded default, worker, beat and web refuse secrets that are not really secret:
in the environment, and in the agencies' accounts stored in the database.

The environment's refusals come before any connection (the URLs point at closed ports);
past them the guard reads the stored accounts, so those tests run on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import forked_cli
from worker.db.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "worker" / "examples" / "agencies.json"
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


def _handoff(env: dict[str, str], *args: str, stdin: str = ""
             ) -> subprocess.CompletedProcess[str]:
    return forked_cli.run(list(args), env, stdin=stdin, timeout=60)


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
    ("HANDOFF_CARRIER_SECRET_KEY", "k", "shorter than 16 bytes"),
    ("HANDOFF_ONESTOP_API_KEY", "production-DEMO-key-at-least-32-bytes", "'demo'"),
])
def test_one_weak_secret_is_enough_to_refuse(tmp_path: Path, variable: str, value: str,
                                             reason: str) -> None:
    env = _env(tmp_path, **{**ISSUED, **_generated(tmp_path), **AGENCIES, variable: value})
    out = _handoff(env, "worker")
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert f"{variable}: " in out.stderr and reason in out.stderr
    assert sum(name in out.stderr for name in SECRET_VARS) == 1


def test_a_generated_set_passes_the_guard(tmp_path: Path, taken_port: str,
                                          pg_url: str) -> None:
    """Past the guard, `handoff web` goes on to bind its port (taken here, so it stops
    there with uvicorn's own error) and says nothing about secrets. A database the guard
    cannot read is a refusal: it cannot tell whether the stored accounts are fit."""
    env = _env(tmp_path, **ISSUED, **_generated(tmp_path), **AGENCIES)
    unread = _handoff(env, "web", "--port", taken_port)  # the database on a closed port
    assert unread.returncode == 2, unread.stderr[-2000:]
    assert "the agencies' stored accounts could not be read" in unread.stderr
    out = _handoff({**env, "HANDOFF_DATABASE_URL": pg_url}, "web", "--port", taken_port)
    assert out.returncode != 2, out.stderr[-2000:]
    assert "address already in use" in out.stderr.lower()
    assert "refusing to start" not in out.stderr
    assert not any(name in out.stderr for name in SECRET_VARS)


def test_allow_demo_secrets_starts_a_staging_run_with_a_warning(tmp_path: Path,
                                                                taken_port: str,
                                                                pg_url: str) -> None:
    env = _env(tmp_path, HANDOFF_ALLOW_DEMO_SECRETS="true", HANDOFF_DATABASE_URL=pg_url)
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


# --- the agencies' own accounts (issue 13 item 1) -------------------------------------

SHIPPED = json.loads(EXAMPLES.read_text(encoding="utf-8"))
OWN = {"000.00.21.H19", "000.00.01.H19"}  # the two example agencies with an account
SHIPPED_VALUES = [SHIPPED[code][f] for code in OWN
                  for f in ("customer_key", "secret_key", "push_secret")]


def test_the_shipped_example_accounts_and_short_secrets_are_refused_on_postgresql(
        tmp_path: Path, pg_url: str) -> None:
    """The README's walk-through file imported on a production database: refused, naming
    the agency and the field, never a value; nothing stored. A push secret of 20 random
    characters (enough before) is refused too: at least 32 off the embedded default."""
    upgrade(pg_url)
    env = _env(tmp_path, HANDOFF_DATABASE_URL=pg_url)
    out = _handoff(env, "agency", "import", str(EXAMPLES))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "000.00.21.H19.customer_key: là giá trị công khai" in out.stderr
    assert "Traceback" not in out.stderr
    short = _handoff(env, "agency", "add", "000.00.21.H19", "--name", "UBND phường Cao Lãnh",
                     "--tel", "02773851234", "--address", "Số 1", "--province", "82",
                     "--ward", "29869", "--route", "B", "--customer-code", "C0021",
                     "--credentials-stdin", stdin=json.dumps({
                         "customer_key": "C0021-consumer-7Gf2Lp9Q",
                         "secret_key": "Vn9xQ2LrT7pKcW4mZ8sB1dF6gH3jN5yAq",
                         "push_secret": "Qx4Rt8Vb3Nm6Kc1Wz5Hj"}))
    assert short.returncode == 2, short.stdout + short.stderr
    assert "push_secret: ngắn quá: cần ít nhất 32 ký tự" in short.stderr
    listed = _handoff(env, "agency", "list", "--json")
    assert json.loads(listed.stdout) == []  # nothing of either stored
    for said in (out, short, listed):
        for value in SHIPPED_VALUES + ["Qx4Rt8Vb3Nm6Kc1Wz5Hj"]:
            assert value not in said.stdout + said.stderr


def test_web_refuses_to_start_on_stored_example_accounts_unless_staging(
        tmp_path: Path, pg_url: str, taken_port: str) -> None:
    """Accounts stored before the rule (here by a staging run, which admits the shipped
    values) stop a production start, each named by agency and field; a staging run starts
    with a warning naming them."""
    upgrade(pg_url)
    prod = _env(tmp_path, **ISSUED, **_generated(tmp_path), **AGENCIES,
                HANDOFF_DATABASE_URL=pg_url)
    staging = {**prod, "HANDOFF_ALLOW_DEMO_SECRETS": "true"}
    assert _handoff(staging, "agency", "import", str(EXAMPLES)).returncode == 0
    out = _handoff(prod, "web", "--port", taken_port)
    assert out.returncode == 2, out.stderr[-2000:]
    for code in OWN:
        for field in ("customer_key", "secret_key", "push_secret"):
            assert (f"agency {code} {field}: is a value of a shipped example file"
                    in out.stderr), out.stderr
    assert "000.00.17.H19" not in out.stderr  # on the shared account: nothing of its own
    staged = _handoff(staging, "web", "--port", taken_port)
    assert "address already in use" in staged.stderr.lower(), staged.stderr[-2000:]
    assert ("warning: HANDOFF_ALLOW_DEMO_SECRETS=true: running on public example values of "
            "agency 000.00.01.H19 customer_key") in staged.stderr
    for said in (out, staged):
        assert not any(value in said.stderr for value in SHIPPED_VALUES)


def test_a_28_character_secret_key_issued_by_the_post_office_is_taken_on_postgresql(
        tmp_path: Path, pg_url: str, taken_port: str) -> None:
    """Review B3: the customer key and secret key are issued by the post office's WSO2-style
    gateway (28 characters by default), so no length rule of ours may refuse them. Such an
    account is added off the embedded default and web starts with it stored; the shipped
    example's secret_key is still refused, named by agency and field, never shown."""
    upgrade(pg_url)
    env = _env(tmp_path, **ISSUED, **_generated(tmp_path), **AGENCIES,
               HANDOFF_DATABASE_URL=pg_url)
    issued = {"customer_key": secrets.token_urlsafe(21), "secret_key": secrets.token_urlsafe(21),
              "push_secret": secrets.token_urlsafe(32)}
    assert len(issued["secret_key"]) == 28
    added = _handoff(env, "agency", "add", "000.00.21.H19", "--name", "UBND phường Cao Lãnh",
                     "--tel", "02773851234", "--address", "Số 1", "--province", "82",
                     "--ward", "29869", "--route", "B", "--customer-code", "C0021",
                     "--credentials-stdin", stdin=json.dumps(issued))
    assert added.returncode == 0, added.stdout + added.stderr
    public = _handoff(env, "agency", "update", "000.00.21.H19", "--credentials-stdin",
                      stdin=json.dumps({"secret_key": SHIPPED["000.00.21.H19"]["secret_key"]}))
    assert public.returncode == 2, public.stdout + public.stderr
    assert "secret_key: là giá trị công khai" in public.stderr
    started = _handoff(env, "web", "--port", taken_port)  # the stored account passes the guard
    assert "address already in use" in started.stderr.lower(), started.stderr[-2000:]
    assert "refusing to start" not in started.stderr
    for said in (added, public, started):
        for value in [*issued.values(), *SHIPPED_VALUES]:
            assert value not in said.stdout + said.stderr
