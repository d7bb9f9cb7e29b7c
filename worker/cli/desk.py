"""`handoff pickup request|cancel|pending|record|slips|handed-over`: the desk's actions from
the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from worker.cli.common import clean_arg, runtime
from worker.domain.enums import DeskOutcomeKind
from worker.domain.errors import InvalidInput
from worker.domain.statuses import Direction
from worker.service.flow.desk import cancel, request_pickups, waiting_list
from worker.service.flow.handover_desk import close_record, print_record
from worker.service.ledger import uow
from worker.service.views.handover_views import record, slips


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


DIRECTIONS = click.Choice([d.value for d in Direction])


@pickup.command("record")
@click.argument("codes", nargs=-1)
@click.option("--agency", default=None, callback=clean_arg, help="the agency (all its hand-offs)")
@click.option("--direction", type=DIRECTIONS, default=Direction.RESULT_DELIVERY.value,
              show_default=True, help="pickup: the dossiers the courier brings to the desk")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="the PDF's path (default: <record number>.pdf here)")
def pickup_record(codes: tuple[str, ...], agency: str | None, direction: str,
                  output: Path | None) -> None:
    """Print the hand-over record (biên bản bàn giao) for the hand-offs the courier is to
    take: all of an agency's, or the CODES given. Printing again gives the same record."""
    from worker.paper import handover_pdf  # fpdf only when printing: `--help` stays fast

    rt = runtime()
    try:
        made = print_record(rt, agency_code=agency, direction=direction,
                            codes=list(codes) or None, actor="cli")
        with uow.read(rt) as s:
            data = handover_pdf.render(record(s, made.number))
    except InvalidInput as err:
        raise click.UsageError(str(err)) from None
    path = output or Path(f"{made.number}.pdf")
    path.write_bytes(data)
    click.echo(f"{made.number} ({'mới lập' if made.created else 'in lại'}): {path}")


@pickup.command("slips")
@click.argument("codes", nargs=-1)
@click.option("--agency", default=None, callback=clean_arg)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("phieu-gui.pdf"), show_default=True)
def pickup_slips(codes: tuple[str, ...], agency: str | None, output: Path) -> None:
    """Print the envelope slips (A6, four to an A4 page) of the hand-offs the courier is to
    take: all of an agency's, or the CODES given. Phones are printed in full, for delivery."""
    from worker.paper import slips_pdf  # fpdf only when printing

    try:
        with uow.read(runtime()) as s:
            sheet = slips(s, agency, list(codes) or None)
    except InvalidInput as err:
        raise click.UsageError(str(err)) from None
    output.write_bytes(slips_pdf.render(sheet))
    click.echo(f"{len(sheet.slips)} phiếu gửi: {output}")


@pickup.command("handed-over")
@click.argument("number")
@click.option("--agency", default=None, callback=clean_arg)
def pickup_handed_over(number: str, agency: str | None) -> None:
    """Mark a hand-over record handed over ("Đã bàn giao"): the courier signed it."""
    try:
        close_record(runtime(), number, "cli", agency)
    except InvalidInput as err:
        raise click.UsageError(str(err)) from None
    click.echo(f"{number}: đã bàn giao")


def _print_outcomes(outcomes: list, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in outcomes], ensure_ascii=False, indent=1))
        return
    for o in outcomes:
        click.echo(f"{o.dossier_code:<28} {o.label}" + (f": {o.reason}" if o.reason else ""))
