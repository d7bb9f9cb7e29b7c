"""The `handoff` command group: each command's name, help and the module that holds it."""

from __future__ import annotations

import importlib
import logging
from typing import NamedTuple

import click

from worker.launch import logsafe


class Entry(NamedTuple):
    where: str  # "module:attribute"
    help: str  # the command's own help text, cut for the list as click cuts it


# name -> where the command is and its help. A command's module is imported only when that
# command runs or shows its own help: `handoff --help` lists the commands from this table
# alone (tests/unit/test_cli_commands.py holds each help equal to the command's own), and
# `handoff check` (the containers' healthcheck) loads no Celery, web app or Alembic,
# `handoff worker` no web app.
COMMANDS = {
    "migrate": Entry("worker.cli.processes:migrate",
                     "Create or upgrade the database schema (Alembic)."),
    "worker": Entry("worker.cli.processes:worker",
                    "Run a Celery worker (scale by running more)."),
    "beat": Entry("worker.cli.processes:beat",
                  "Run Celery beat (it only rings; leases make a second beat harmless)."),
    "web": Entry("worker.cli.processes:web", "Serve webhooks, health, desk and ops pages."),
    "simulate": Entry("worker.cli.processes:simulate",
                      "Serve a simulator of the carrier (VNPost N-GSP and LGSP doors) or the "
                      "one-stop system."),
    "demo": Entry("worker.cli.processes:demo",
                  "Run everything on the embedded default and drive result-ready dossiers to "
                  "the end."),
    "secrets": Entry("worker.cli.processes:secrets_cmd",
                     "Print fresh secrets as HANDOFF_X=... lines to paste into .env."),
    "status": Entry("worker.cli.ops:status",
                    "Timeline of one hand-off (dossier code, order number or item code)."),
    "log": Entry("worker.cli.ops:log_cmd", "Recent entries of the delivery-status log."),
    "check": Entry("worker.cli.check:check",
                   "Exit non-zero when no worker consumed work recently or a feed cursor went "
                   "stale."),
    "stuck": Entry("worker.cli.ops:stuck",
                   "Open SLA breaches (late or stuck hand-offs), worst first."),
    "replay": Entry("worker.cli.ops:replay",
                    "Put dead ledger rows (work that failed for good) back in the queue."),
    "mark-sla": Entry("worker.cli.ops:mark_sla",
                      "Run one SLA pass now: record late or stuck hand-offs and queue their "
                      "notifications."),
    "pickup": Entry("worker.cli.desk:pickup",
                    "Desk actions: call the courier, cancel, list hand-offs waiting for a "
                    "courier."),
    "user": Entry("worker.cli.users:user", "People who log in to the desk and ops pages."),
    "token": Entry("worker.cli.tokens:token",
                   "Bearer tokens of the desk API (/api/v1/pickups), each bound to one "
                   "agency."),
    "agency": Entry("worker.cli.agencies:agency",
                    "The province's agencies: sender block, dispatch, route, post-office "
                    "account."),
    "cod": Entry("worker.cli.cod:cod",
                 "Fee reconciliation (COD): fees collected and paid back, per agency and month."),
    "areas": Entry("worker.cli.areas:areas_group",
                   "The post office's area table (GSO ward -> the carrier's province/district "
                   "codes)."),
}


class LazyGroup(click.Group):
    """A click group whose commands come from COMMANDS, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name].where.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), COMMANDS[cmd_name]
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list as click writes it, from the table: no command module loads."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            formatter.write_dl([(name, short_help(name, limit)) for name in names])


def short_help(name: str, limit: int) -> str:
    """A command's line in `handoff --help`, cut as click cuts a command's own help."""
    return click.Command(name, help=COMMANDS[name].help).get_short_help_str(limit)


@click.group(cls=LazyGroup)
def main() -> None:
    """postal-handoff: one-stop desk <-> Vietnam Post worker."""
    # every process starts here (web, worker and its pool, beat, one-shot commands): from
    # now on, no log line carries a raw control character from outside (worker/launch/logsafe.py)
    logsafe.install()
    # httpx logs a line at INFO for every request it sends: a push-back, an order, a token.
    # Under a backlog that is thousands a minute, each formatted and written under the
    # handler's lock by ten threads of a pool process (8 % of a push's call in a py-spy
    # profile of benchmark 4) and saying nothing the worker's own lines do not: a failure
    # is logged by the adapters (WARNING) or the job runner, and at -l DEBUG the one-stop
    # client logs each request itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
