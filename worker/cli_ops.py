"""Ops commands of `handoff`: what is late or stuck, replay dead letters, run an SLA pass."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import click

from worker.domain.errors import InvalidInput
from worker.domain.moments import EARLIEST, as_utc
from worker.domain.text import clean_text, safe_display

REPLAY_PAGE = 500
ARG_MAX = 200  # longer than any code, status or time a person types
SINCE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def register(main: click.Group) -> None:
    """Add the ops commands to the main `handoff` group."""
    main.add_command(stuck)
    main.add_command(replay)
    main.add_command(mark_sla)


def clean_arg(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: text from the command line made safe (no NUL, control characters
    or undecodable bytes reach the database), or a usage error naming the reason."""
    if value is None:
        return None
    try:
        return clean_text(value, param.name or "", max_len=ARG_MAX) or None
    except InvalidInput as err:
        raise click.BadParameter(err.reason) from None


def parse_moment(text: str, hint: str) -> datetime:
    """An ISO time (no zone = UTC) as a storable UTC moment, clamped to what a datetime can
    hold (0001-01-01T00:00+07:00 has no UTC value)."""
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise click.BadParameter("use an ISO time", param_hint=hint) from None


def parse_since(value: str | None) -> datetime | None:
    """'30m', '2h', '1d' before now, or an ISO time; never overflows however large."""
    if not value:
        return None
    amount, unit = value[:-1], value[-1]
    if unit in SINCE_UNITS and amount.isascii() and amount.isdigit():
        try:
            # (20 digits overflow any unit already: a longer number is cut, not parsed)
            return datetime.now(UTC) - timedelta(**{SINCE_UNITS[unit]: int(amount[:20])})
        except OverflowError:  # further back than a datetime reaches: since the beginning
            return EARLIEST
    return parse_moment(value, "--since")


def echo_line(text: str) -> None:
    """One line for a terminal: stored text's control characters (an ANSI escape from a
    feed) are shown as U+FFFD, never sent to the terminal."""
    click.echo(safe_display(text, max_len=2000))


@click.command()
@click.option("--json", "as_json", is_flag=True)
def stuck(as_json: bool) -> None:
    """Open SLA breaches (late or stuck hand-offs), worst first."""
    from worker.bootstrap import runtime
    from worker.reports import local
    from worker.service.sla import stuck as open_breaches

    with runtime().db.unit_of_work() as s:
        rows = open_breaches(s)
    if as_json:
        click.echo(json.dumps([{
            "dossier_code": r.dossier_code, "direction": r.direction, "status": r.status,
            "order_number": r.order_number, "rule": r.rule, "rule_label": r.rule_label,
            "detail": r.detail, "since": local(r.detected_at),
            "notified_at": local(r.notified_at),
        } for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("không có hồ sơ nào trễ hạn hoặc bị kẹt")
        return
    for r in rows:
        echo_line(f"{r.dossier_code:<28} {r.rule:<16} từ {local(r.detected_at)}  "
                  f"{r.rule_label}: {r.detail}")


@click.command()
@click.argument("job_ids", nargs=-1)  # as typed: replay() refuses each impossible id
@click.option("--all-dead", is_flag=True, help="replay every dead ledger row")
@click.option("--json", "as_json", is_flag=True)
def replay(job_ids: tuple[str, ...], all_dead: bool, as_json: bool) -> None:
    """Put dead ledger rows (work that failed for good) back in the queue."""
    from worker.bootstrap import runtime
    from worker.service.replay import dead_letters
    from worker.service.replay import replay as replay_jobs

    rt = runtime()
    ids: list[int | str] = list(job_ids)
    if all_dead:
        with rt.db.unit_of_work() as s:
            offset = 0
            while page := dead_letters(s, limit=REPLAY_PAGE, offset=offset):
                ids += [d.job_id for d in page]
                offset += REPLAY_PAGE
    if not ids:
        if all_dead:
            click.echo("không có việc nào ở trạng thái lỗi")
            return
        raise click.UsageError("give one or more job ids, or --all-dead")
    outcomes = replay_jobs(rt, ids, actor="cli")
    if as_json:
        click.echo(json.dumps([o.__dict__ for o in outcomes], ensure_ascii=False, indent=1))
    else:
        for o in outcomes:
            mark = "✓" if o.replayed else "✗"
            click.echo(f"{mark} việc {o.job_id}: {o.reason}")
    if any(not o.replayed for o in outcomes):
        sys.exit(2)


@click.command(name="mark-sla")
@click.option("--now", "now_text", default=None,
              help="ISO time to judge deadlines by (default: now; no zone = UTC)")
def mark_sla(now_text: str | None) -> None:
    """Run one SLA pass now: record late or stuck hand-offs and send notifications."""
    from worker.bootstrap import runtime
    from worker.service.sla import mark

    now = parse_moment(now_text, "--now") if now_text else None
    result = mark(runtime(), now)
    if not result.ran:
        click.echo("một tiến trình khác đang kiểm tra hạn, bỏ qua lần này")
        return
    click.echo(f"mới {result.opened}, mở lại {result.reopened}, đã hết {result.cleared}, "
               f"đã báo {result.notified}, báo lỗi {result.notify_failed}")
    if result.skipped:  # their ids are in the log; the others were judged as usual
        click.echo(f"bỏ qua {result.skipped} hồ sơ có dữ liệu ngày giờ không đọc được "
                   "(xem nhật ký)", err=True)
