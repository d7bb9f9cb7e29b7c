"""docker-compose.yml and the Dockerfile, checked by parsing (no Docker engine needed).

Every `handoff ...` the stack runs (command or healthcheck) must parse against the real
click group, so a renamed or missing command fails here rather than in production.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import click
import pytest

from worker.cli import main
from worker.settings import Settings

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

EXPECTED_SERVICES = {"redis", "postgres", "migrate", "worker", "beat", "web",
                     "carrier-sim", "onestop-sim"}
SHELL_SEPARATORS = {"&&", "||", ";", "|"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


# --- resolving a `handoff ...` argv against the real CLI -----------------------------------

def check_handoff_argv(argv: list[str]) -> None:
    """Parse argv (starting with "handoff") with the real click group; raise on any error.

    Walks nested groups, then lets click parse the leaf command's own arguments and options
    (unknown options, bad choices such as `simulate fax`, bad types) without running it.
    """
    assert argv and argv[0] == "handoff", argv
    ctx = click.Context(main, info_name="handoff")
    cmd: click.Command = main
    args = list(argv[1:])
    while isinstance(cmd, click.Group):
        if not args or args[0].startswith("-"):
            raise click.UsageError(f"no subcommand in {argv!r}")
        name = args.pop(0)
        sub = cmd.get_command(ctx, name)
        if sub is None:
            raise click.UsageError(f"no such command {name!r} in {argv!r}")
        cmd = sub
        ctx = click.Context(cmd, info_name=name, parent=ctx)
    # make_context parses and validates the parameters; the callback is not invoked.
    cmd.make_context(ctx.info_name, args, parent=ctx.parent)


def argvs_in(spec: object) -> list[list[str]]:
    """Every `handoff ...` invocation in a compose command or healthcheck test."""
    if spec is None:
        return []
    if isinstance(spec, str):
        tokens = shlex.split(spec)
    else:
        tokens = [str(t) for t in spec]
        if tokens and tokens[0] == "CMD-SHELL":
            tokens = shlex.split(" ".join(tokens[1:]))
        elif tokens and tokens[0] in ("CMD", "NONE"):
            tokens = tokens[1:]
    found, current = [], None
    for tok in tokens:
        if tok in SHELL_SEPARATORS:
            current = None
        elif current is not None:
            current.append(tok)
        elif Path(tok).name == "handoff":
            current = ["handoff"]
            found.append(current)
    return found


def handoff_invocations(services: dict) -> list[tuple[str, str, list[str]]]:
    out = []
    for name, svc in services.items():
        for where, spec in (("command", svc.get("command")),
                            ("entrypoint", svc.get("entrypoint")),
                            ("healthcheck", (svc.get("healthcheck") or {}).get("test"))):
            out += [(name, where, argv) for argv in argvs_in(spec)]
    return out


@pytest.mark.parametrize("argv", [
    ["handoff", "worker"],
    ["handoff", "simulate", "carrier", "--host", "0.0.0.0", "--port", "8701", "--speed", "600"],
])
def test_checker_accepts_real_commands(argv: list[str]) -> None:
    check_handoff_argv(argv)


@pytest.mark.parametrize("argv", [
    ["handoff", "no-such-command"],
    ["handoff", "simulate", "fax"],
    ["handoff", "web", "--no-such-option"],
    ["handoff", "web", "--port", "not-a-number"],
    ["handoff"],
])
def test_checker_rejects_fake_commands(argv: list[str]) -> None:
    with pytest.raises(click.ClickException):
        check_handoff_argv(argv)


# --- the compose file ----------------------------------------------------------------------

def test_compose_spec_has_no_version_key(compose: dict) -> None:
    assert "version" not in compose


def test_expected_services_exist(services: dict) -> None:
    assert set(services) >= EXPECTED_SERVICES, EXPECTED_SERVICES - set(services)


def test_every_handoff_invocation_exists_in_the_cli(services: dict) -> None:
    invocations = handoff_invocations(services)
    assert invocations
    failures = []
    for name, where, argv in invocations:
        try:
            check_handoff_argv(argv)
        except click.ClickException as err:
            failures.append(f"{name}.{where}: {' '.join(argv)!r}: {err.format_message()}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("service, argv", [
    ("migrate", ["handoff", "migrate"]),
    ("worker", ["handoff", "worker"]),
    ("beat", ["handoff", "beat"]),
    ("web", ["handoff", "web", "--host", "0.0.0.0", "--port", "8700"]),
    ("carrier-sim", ["handoff", "simulate", "carrier", "--host", "0.0.0.0", "--port", "8701",
                     "--speed", "600"]),
    ("onestop-sim", ["handoff", "simulate", "onestop", "--host", "0.0.0.0", "--port", "8702"]),
])
def test_service_commands(services: dict, service: str, argv: list[str]) -> None:
    assert argvs_in(services[service]["command"]) == [argv]


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_worker_and_beat_healthcheck_is_handoff_check(services: dict, service: str) -> None:
    argvs = argvs_in(services[service]["healthcheck"]["test"])
    assert argvs == [["handoff", "check"]]
    check_handoff_argv(argvs[0])  # `handoff check` must exist in the real CLI


def test_infrastructure_healthchecks(services: dict) -> None:
    assert services["redis"]["image"].startswith("redis:7")
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["postgres"].get("volumes")
    env = services["postgres"]["environment"]
    for key in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"):
        assert re.fullmatch(r"\$\{" + key + r":-[^}]+\}", env[key]), (key, env[key])


def test_web_healthcheck_gets_healthz_with_urllib(services: dict) -> None:
    web = services["web"]
    assert any(str(p).split(":")[-2:] == ["8700", "8700"] or str(p) == "8700"
               for p in web["ports"])
    test = " ".join(map(str, web["healthcheck"]["test"]))
    assert "urllib" in test and "/healthz" in test and ":8700" in test


def test_worker_is_scalable(services: dict) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert (worker.get("deploy") or {}).get("replicas", 1) == 1  # --scale sets the count


def test_beat_runs_exactly_once(services: dict) -> None:
    beat = services["beat"]
    assert beat["deploy"]["replicas"] == 1
    assert "profiles" not in beat


def test_migrate_is_one_shot_after_postgres(services: dict) -> None:
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", ["worker", "beat", "web"])
def test_processes_wait_for_migrate_and_redis(services: dict, service: str) -> None:
    deps = services[service]["depends_on"]
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["redis"]["condition"] == "service_healthy"


def test_simulators_only_in_sim_profile(services: dict) -> None:
    for name, svc in services.items():
        if name in ("carrier-sim", "onestop-sim"):
            assert svc.get("profiles") == ["sim"], name
        else:
            assert "profiles" not in svc, f"{name} must start in production"
    # production services must not need a simulator to start
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert not {"carrier-sim", "onestop-sim"} & set(deps), name


def test_handoff_services_share_env_and_optional_env_file(compose: dict, services: dict) -> None:
    shared = compose["x-handoff-env"]
    assert shared["HANDOFF_BROKER_URL"] == "${HANDOFF_BROKER_URL:-redis://redis:6379/0}"
    assert shared["HANDOFF_DATABASE_URL"].startswith(
        "${HANDOFF_DATABASE_URL:-postgresql+psycopg://")
    assert "${POSTGRES_PASSWORD:-" in shared["HANDOFF_DATABASE_URL"]
    assert "@postgres:5432/" in shared["HANDOFF_DATABASE_URL"]
    assert "carrier-sim:8701" in shared["HANDOFF_CARRIER_BASE_URL"]
    assert "onestop-sim:8702" in shared["HANDOFF_ONESTOP_BASE_URL"]
    for name in ("migrate", "worker", "beat", "web", "carrier-sim", "onestop-sim"):
        svc = services[name]
        assert svc["environment"] == shared, name
        assert svc["env_file"] == [{"path": ".env", "required": False}], name
        assert "build" in svc or "image" in svc, name


def test_env_file_can_point_at_managed_database_and_broker(compose: dict) -> None:
    """`environment:` wins over `env_file:`, so the URLs must come from substitution (which
    reads ./.env) with the compose services as the default, never hard-coded."""
    shared = compose["x-handoff-env"]
    for key in ("HANDOFF_DATABASE_URL", "HANDOFF_BROKER_URL"):
        assert shared[key].startswith(f"${{{key}:-") and shared[key].endswith("}"), key
    # Unset means automatic (Secure off the embedded default); never defaulted to false.
    assert "HANDOFF_SESSION_HTTPS_ONLY" in shared and shared["HANDOFF_SESSION_HTTPS_ONLY"] is None


def test_production_services_do_not_allow_demo_secrets(compose: dict, services: dict) -> None:
    assert "HANDOFF_ALLOW_DEMO_SECRETS" not in compose["x-handoff-env"]
    for name in ("migrate", "worker", "beat", "web"):
        env = services[name].get("environment") or {}
        assert "HANDOFF_ALLOW_DEMO_SECRETS" not in env, name


def test_secrets_are_not_required_and_not_blanked(compose: dict) -> None:
    """`${X:?}` would break the sim profile; `${X:-}` would override the default with ""."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert ":?" not in text
    shared = compose["x-handoff-env"]
    for key in ("HANDOFF_CARRIER_SECRET_KEY", "HANDOFF_ONESTOP_API_KEY", "HANDOFF_WEBHOOK_SECRET",
                "HANDOFF_SESSION_SECRET", "HANDOFF_NOTIFY_SECRET"):
        assert key in shared and shared[key] in (None, f"${{{key}}}"), key


def test_handoff_variables_are_real_settings(compose: dict) -> None:
    fields = {f"HANDOFF_{name.upper()}" for name in Settings.model_fields}
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    referenced = set(re.findall(r"\$\{(HANDOFF_[A-Z0-9_]+)", text))
    referenced |= set(re.findall(r"\$(HANDOFF_[A-Z0-9_]+)", text))
    for svc in compose["services"].values():
        env = svc.get("environment") or {}
        keys = env if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        referenced |= {k for k in keys if k.startswith("HANDOFF_")}
    assert referenced
    assert not referenced - fields, f"not Settings fields: {sorted(referenced - fields)}"


# --- the Dockerfile ------------------------------------------------------------------------

def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _exec_form(rest: str) -> list[str]:
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def test_dockerfile_runs_handoff_as_non_root() -> None:
    instr = _dockerfile_instructions()
    froms = [rest for word, rest in instr if word == "FROM"]
    assert froms and froms[0].startswith("python:3.11-slim")
    assert ("WORKDIR", "/app") in instr
    users = [rest for word, rest in instr if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(word == "RUN" and "pip install" in rest for word, rest in instr)

    entry = [_exec_form(rest) for word, rest in instr if word == "ENTRYPOINT"]
    cmd = [_exec_form(rest) for word, rest in instr if word == "CMD"]
    argv = (entry[-1] if entry else []) + (cmd[-1] if cmd else [])
    assert argv == ["handoff", "worker"]
    check_handoff_argv(argv)


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in lines  # allow-list
    for needed in ("!pyproject.toml", "!celeryconfig.py", "!worker/", "!integrations/"):
        assert needed in lines


def test_the_image_holds_every_package_the_project_installs() -> None:
    # the `sim` profile runs `handoff simulate` from this image: simulators/ must be in it
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]
                ["include"]]
    assert "simulators" in packages
    copied = {shlex.split(rest)[0] for word, rest in _dockerfile_instructions()
              if word == "COPY"}
    allowed = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for package in packages:
        assert package in copied, f"Dockerfile does not COPY {package}"
        assert f"!{package}/" in allowed, f".dockerignore keeps {package} out"
