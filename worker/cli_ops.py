"""Ops commands of `handoff`: what is late or stuck, replay dead letters, run an SLA pass."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

REPLAY_PAGE = 500


def register(main: click.Group) -> None:
    """Add the ops commands to the main `handoff` group."""
    main.add_command(stuck)
    main.add_command(replay)
    main.add_command(mark_sla)


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
        click.echo(f"{r.dossier_code:<28} {r.rule:<16} từ {local(r.detected_at)}  "
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

    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            raise click.BadParameter("use an ISO time", param_hint="--now") from None
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    result = mark(runtime(), now)
    if not result.ran:
        click.echo("một tiến trình khác đang kiểm tra hạn, bỏ qua lần này")
        return
    click.echo(f"mới {result.opened}, mở lại {result.reopened}, đã hết {result.cleared}, "
               f"đã báo {result.notified}, báo lỗi {result.notify_failed}")
    if result.skipped:  # their ids are in the log; the others were judged as usual
        click.echo(f"bỏ qua {result.skipped} hồ sơ có dữ liệu ngày giờ không đọc được "
                   "(xem nhật ký)", err=True)
