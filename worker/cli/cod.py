"""`handoff cod`: the fee reconciliation (COD) report of a month, as a table, CSV or XLSX."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from worker.cli.common import clean_arg, echo_line, parse_moment, runtime
from worker.domain.errors import InvalidInput
from worker.domain.moments import local
from worker.paper.cod_xlsx import render
from worker.service.ledger import uow
from worker.service.views.cod_report import CodReport, report, table
from worker.web.ops_csv import csv_bytes

FORMATS = ("table", "csv", "xlsx")


@click.group()
def cod() -> None:
    """Fee reconciliation (COD): fees collected and paid back, per agency and month."""


@cod.command(name="report")
@click.option("--month", required=True, callback=clean_arg,
              help="the month, YYYY-MM (Vietnam time), e.g. 2026-11")
@click.option("--agency", default=None, callback=clean_arg, help="one agency's code")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True, help="table on the terminal, or a CSV/XLSX file")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="write to this file (needed for xlsx; csv: else stdout)")
@click.option("--now", "now_text", default=None,
              help="ISO time to judge late remittances by (default: now; no zone = UTC)")
def report_cmd(month: str, agency: str | None, fmt: str, output: Path | None,
               now_text: str | None) -> None:
    """Expected vs collected vs remitted per agency, the hand-offs that differ first."""
    if fmt == "xlsx" and output is None:
        raise click.UsageError("--format xlsx cần -o TỆP (bảng tính không in ra terminal)")
    now = parse_moment(now_text, "--now") if now_text else datetime.now(UTC)
    rt = runtime()
    try:
        with uow.read(rt) as s:
            rep = report(s, month, now=now, agency=agency,
                         remit_days=rt.settings.cod_remit_days,
                         grace_days=rt.settings.cod_collect_grace_days)
    except InvalidInput as err:
        raise click.BadParameter(err.reason, param_hint="--month") from None
    if fmt == "table":
        _print(rep)
        return
    data = render(rep) if fmt == "xlsx" else csv_bytes(table(rep))
    if output is None:
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    click.echo(f"đã ghi {output} ({len(rep.rows)} hồ sơ, {len(rep.differing)} chênh lệch)")


def _money(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _print(rep: CodReport) -> None:
    """The month on a terminal: per agency, then the hand-offs that differ, then the rest.
    Stored text goes through echo_line: no control character reaches a tty."""
    echo_line(f"Đối soát tiền thu hộ tháng {rep.month} ({rep.agency or 'tất cả cơ quan'}); "
              f"chậm trả sau {rep.remit_days:g} ngày")
    for t in [*rep.totals, rep.grand]:
        echo_line(f"{t.agency_code or '':<16} {t.agency_name[:30]:<30} {t.handoffs:>5} hồ sơ  "
                  f"dự kiến {_money(t.expected):>12}  đã thu {t.collected_n:>4} "
                  f"({_money(t.collected):>12})  đã trả {t.remitted_n:>4} "
                  f"({_money(t.remitted):>12})  chênh lệch {t.differing}")
    if not rep.rows:
        click.echo("không có hồ sơ thu hộ nào trong tháng này")
        return
    for r in rep.rows:
        mark = "!" if r.problems else " "
        echo_line(f"{mark} {r.dossier_code:<28} {r.order_number:<32} {_money(r.expected):>10}  "
                  f"thu {local(r.collected_at) or '-':<25} trả {local(r.remitted_at) or '-':<25} "
                  f"{'; '.join(r.problem_labels)}")
