"""The `handoff` group's command table: every entry loads, its help is the command's own,
and only what a command needs loads (the import budget of `--help` and `check`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from worker.cli import main
from worker.cli.main import COMMANDS


def _fresh(probe: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`probe` run in a new interpreter (this test process may have imported anything
    already, and set any logger): its output, or CalledProcessError."""
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True, env=env)


def test_every_command_of_the_table_loads_under_its_own_name() -> None:
    ctx = click.Context(main, info_name="handoff")
    assert main.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name, name
    assert main.get_command(ctx, "fax") is None


def test_help_loads_no_celery_web_app_or_simulator() -> None:
    # a fresh interpreter: this test process may have imported anything already
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from worker.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'simulate' in result.output and 'mark-sla' in result.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "             {'celery', 'starlette', 'uvicorn', 'simulators'}\n"
        "             or m in {'worker.tasks', 'worker.web.app', 'worker.bootstrap'}))\n"
    )
    out = _fresh(probe)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_list_in_help_is_what_click_writes_from_the_commands_themselves() -> None:
    ctx = click.Context(main, info_name="handoff")
    loaded = {name: main.get_command(ctx, name) for name in COMMANDS}
    plain = click.Group("handoff", commands=loaded)  # click's own list: every module loaded
    for width in (60, 80, 120):
        ours, theirs = click.HelpFormatter(width=width), click.HelpFormatter(width=width)
        main.format_commands(ctx, ours)
        plain.format_commands(click.Context(plain, info_name="handoff"), theirs)
        assert ours.getvalue() == theirs.getvalue()
    for name, command in loaded.items():
        assert command is not None and command.help == COMMANDS[name].help, name


# What a command may not load, by the top-level package or the module's own name.
HEAVY = ("sqlalchemy", "alembic", "celery", "kombu", "redis", "httpx", "pydantic",
         "pydantic_settings", "starlette", "uvicorn", "simulators", "integrations")
SERVICE = ("worker.service", "worker.db", "worker.web", "worker.tasks", "worker.bootstrap",
           "worker.launch.health", "worker.settings", "worker.service.views.reports")


def _loaded_by(args: list[str], home: Path) -> set[str]:
    """The modules a fresh interpreter holds after `handoff <args>`."""
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from worker.cli import main\n"
        f"result = CliRunner().invoke(main, {args!r})\n"
        "assert result.exception is None or isinstance(result.exception, SystemExit), "
        "result.output\n"
        "print(result.output, file=sys.stderr)\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "HANDOFF_HOME": str(home)}
    env.pop("HANDOFF_DATABASE_URL", None)
    out = _fresh(probe, env)
    return set(out.stdout.split())


def _under(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".")
                                            for p in prefixes))


def test_help_lists_the_commands_without_loading_any(tmp_path: Path) -> None:
    loaded = _loaded_by(["--help"], tmp_path)
    assert _under(loaded, HEAVY + SERVICE) == []
    assert _under(loaded, ("worker.cli",)) == ["worker.cli", "worker.cli.main"]


def test_check_help_loads_its_own_module_only(tmp_path: Path) -> None:
    loaded = _loaded_by(["check", "--help"], tmp_path)
    assert _under(loaded, HEAVY + SERVICE) == []
    assert _under(loaded, ("worker.cli",)) == ["worker.cli", "worker.cli.check",
                                               "worker.cli.main"]


def test_check_loads_the_database_but_no_feed_queue_web_or_adapter(tmp_path: Path) -> None:
    loaded = _loaded_by(["check"], tmp_path)
    assert "worker.launch.health" in loaded and "sqlalchemy.orm" in loaded  # it did judge
    assert _under(loaded, ("alembic", "celery", "kombu", "httpx", "starlette", "uvicorn",
                           "simulators", "integrations", "worker.service.flow.feeds",
                           "worker.service.flow.ingest", "worker.tasks", "worker.web",
                           "worker.bootstrap", "worker.service.views.reports")) == []


CLI = Path(__file__).resolve().parents[2] / "worker" / "cli"


def _late_imports() -> set[tuple[str, str]]:
    """(module, name) of every import inside a function of the command modules: what a
    command loads when it runs, not when its module loads."""
    import ast

    found: set[tuple[str, str]] = set()
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found |= {(node.module, a.name) for a in node.names}
                elif isinstance(node, ast.Import):
                    found |= {(a.name, "") for a in node.names}
    return found


def test_every_late_import_of_a_command_resolves_in_a_new_interpreter() -> None:
    """The tests fork their one-shot commands from a process that loaded the usual modules
    (tests/support/forked_cli.py), where a command's missing or misspelt late import
    would go unseen: each one is imported here, in an interpreter of its own."""
    imports = sorted(_late_imports())
    assert len(imports) > 20, imports  # (the walk found the commands' late imports)
    probe = (
        "import importlib, sys\n"
        f"for module, name in {imports!r}:\n"
        "    loaded = importlib.import_module(module)\n"
        "    if name and not hasattr(loaded, name):\n"
        "        importlib.import_module(module + '.' + name)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=CLI.parents[1])
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("schedule", ["", "  ", "-c"])
def test_worker_beat_needs_the_schedule_file(schedule: str) -> None:
    """`handoff worker --beat` takes the file of the beat's schedule; an empty value, or the
    next option taken for it, is refused before anything starts (exit 2, the option named)."""
    from click.testing import CliRunner

    from worker.cli.processes import worker

    result = CliRunner().invoke(worker, ["--beat", schedule])
    assert result.exit_code == 2
    assert "--beat" in result.output and "schedule file" in result.output


def test_only_the_carrier_simulator_takes_the_one_stop_s_port() -> None:
    """`handoff simulate carrier --onestop-port N` serves both simulators from one process
    (`handoff demo`); the one-stop's own command refuses it before serving anything."""
    from click.testing import CliRunner

    from worker.cli.processes import simulate

    result = CliRunner().invoke(simulate, ["onestop", "--onestop-port", "8702"])
    assert result.exit_code == 2
    assert "--onestop-port" in result.output and "only with `carrier`" in result.output


def test_a_command_s_log_has_no_line_for_each_http_request() -> None:
    # every process starts in the group (worker, beat, web, one-shot commands): after it,
    # a request the client sends is not a log line; a warning still is
    probe = (
        "import logging, httpx\n"
        "from click.testing import CliRunner\n"
        "from worker.cli import main\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "assert CliRunner().invoke(main, ['check', '--help']).exit_code == 0\n"
        "client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))\n"
        "assert client.get('http://127.0.0.1/api').status_code == 200\n"
        "logging.getLogger('httpx').warning('a warning of the client')\n"
    )
    out = _fresh(probe)
    assert "a warning of the client" in out.stderr
    assert "HTTP Request" not in out.stderr, out.stderr
