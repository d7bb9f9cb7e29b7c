"""`handoff pickup request|cancel|pending`: the desk's actions from the command line."""

from __future__ import annotations

import json
import sys

import click

from worker.cli.common import clean_arg, runtime
from worker.domain.enums import DeskOutcomeKind
from worker.service.flow.desk import cancel, request_pickups, waiting_list
from worker.service.ledger import uow


@click.group()
def pickup() -> None:
    """Desk actions: call the courier, cancel, list hand-offs waiting for a courier."""


@pickup.command("request")
@click.argument("codes", nargs=-1, required=True)
@click.option("--agency", default=None, callback=clean_arg, help="only dossiers of this agency")
@click.option("--json", "as_json", is_flag=True)
def pickup_request(codes: tuple[str, ...], agency: str | None, as_json: bool) -> None:
    """Call the courier ("Gọi bưu tá") for one or more dossier codes."""
    outcomes = request_pickups(runtime(), list(codes), actor="cli", agency_code=agency)
    _print_outcomes(outcomes, as_json)
    if any(o.outcome == DeskOutcomeKind.REFUSED for o in outcomes):
        sys.exit(2)


@pickup.command("cancel")
@click.argument("code")
@click.option("--agency", default=None, callback=clean_arg)
@click.option("--json", "as_json", is_flag=True)
def pickup_cancel(code: str, agency: str | None, as_json: bool) -> None:
    """Cancel a hand-off whose courier has not yet taken it."""
    outcome = cancel(runtime(), code, actor="cli", agency_code=agency)
    _print_outcomes([outcome], as_json)
    if outcome.outcome == DeskOutcomeKind.REFUSED:
        sys.exit(2)


@pickup.command("pending")
@click.option("--agency", default=None, callback=clean_arg)
@click.option("--json", "as_json", is_flag=True)
def pickup_pending(agency: str | None, as_json: bool) -> None:
    """Hand-offs waiting for the desk to call the courier, oldest first."""
    with uow.read(runtime()) as s:
        waiting = waiting_list(s, agency)
    rows = waiting.items
    if waiting.truncated:  # on stderr: the --json list on stdout stays a plain list
        click.echo(f"chỉ hiện {len(rows)} hồ sơ chờ lâu nhất trên tổng số {waiting.total}",
                   err=True)
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "ready_at": r.ready_at.isoformat()}
                               for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("không có hồ sơ nào chờ gọi bưu tá")
    for r in rows:
        hours, minutes = divmod(r.waited_seconds // 60, 60)
        click.echo(f"{r.dossier_code:<28} {r.direction:<16} chờ {hours}h{minutes:02d}  "
                   f"{r.procedure_name[:40]:<40} {r.place}")


def _print_outcomes(outcomes: list, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in outcomes], ensure_ascii=False, indent=1))
        return
    for o in outcomes:
        click.echo(f"{o.dossier_code:<28} {o.label}" + (f": {o.reason}" if o.reason else ""))
