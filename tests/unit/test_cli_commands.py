"""The `handoff` group's command table: every entry loads, and only what a command needs loads."""

from __future__ import annotations

import subprocess
import sys

import click

from worker.cli import main
from worker.cli.main import COMMANDS


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
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout
