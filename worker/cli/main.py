"""The `handoff` command group: each command's name and the module that holds it."""

from __future__ import annotations

import importlib

import click

from worker import logsafe

# name -> "module:attribute". A command's module is imported only when that command runs
# (or `--help` lists it): `handoff check`, the containers' healthcheck, does not load
# Celery, the web app or Alembic; `handoff worker` does not load the web app.
COMMANDS = {
    "migrate": "worker.cli.processes:migrate",
    "worker": "worker.cli.processes:worker",
    "beat": "worker.cli.processes:beat",
    "web": "worker.cli.processes:web",
    "simulate": "worker.cli.processes:simulate",
    "demo": "worker.cli.processes:demo",
    "secrets": "worker.cli.processes:secrets_cmd",
    "status": "worker.cli.ops:status",
    "log": "worker.cli.ops:log_cmd",
    "check": "worker.cli.ops:check",
    "stuck": "worker.cli.ops:stuck",
    "replay": "worker.cli.ops:replay",
    "mark-sla": "worker.cli.ops:mark_sla",
    "pickup": "worker.cli.desk:pickup",
    "user": "worker.cli.users:user",
    "token": "worker.cli.tokens:token",
    "agency": "worker.cli.agencies:agency",
    "areas": "worker.cli.areas:areas_group",
}


class LazyGroup(click.Group):
    """A click group whose commands come from COMMANDS, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), COMMANDS[cmd_name]
        return command


@click.group(cls=LazyGroup)
def main() -> None:
    """postal-handoff: one-stop desk <-> Vietnam Post worker."""
    # every process starts here (web, worker and its pool, beat, one-shot commands): from
    # now on, no log line carries a raw control character from outside (worker/logsafe.py)
    logsafe.install()
