"""Ops commands of `handoff`: a hand-off's timeline, the status log, what is late or stuck,
replay dead letters, run an SLA pass (the liveness check is worker/cli/check.py)."""

from __future__ import annotations

import json
import sys

import click

from worker.cli.common import clean_arg, echo_line, parse_moment, parse_since, runtime
from worker.domain.enums import SOURCE_VI
from worker.domain.moments import local
from worker.service.admin.replay import dead_letters
from worker.service.admin.replay import replay as replay_jobs
from worker.service.flow import sla
from worker.service.ledger import uow
from worker.service.views.reports import find_handoffs, recent_log, timeline

REPLAY_PAGE = 500


@click.command()
@click.argument("code", callback=clean_arg)
@click.option("--json", "as_json", is_flag=True)
def status(code: str, as_json: bool) -> None:
    """Timeline of one hand-off (dossier code, order number or item code)."""
    with uow.read(runtime()) as s:
        found = [timeline(s, h) for h in find_handoffs(s, code)]
    if not found:
        click.echo(f"không tìm thấy hồ sơ {code}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    for t in found:  # stored text goes through echo_line: no control character reaches a tty
        echo_line(f"{t['dossier_code']}  {t['direction']}  lần {t['generation']}  "
                  f"đơn {t['order_number'] or '-'}  bưu gửi {t['item_code'] or '-'}  "
                  f"sẵn sàng {t['ready_at']}")
        echo_line(f"  trạng thái: {t['status']} ({t['status_label']}) {t['reason']}")
        for e in t["events"]:
            mark = "✓" if e["applied"] else "·"
            echo_line(f"  {mark} {e['at']}  {e['status'] or '-':<18} {e['raw_code']:>4} "
                      f"{e['raw_text'][:40]:<40} {_path(e['source'])} {e['reason_vi']}")
        for j in t["jobs"]:
            echo_line(f"  job {j['id']} {j['kind']} {j['state']} attempts={j['attempts']} "
                      f"{('next ' + j['next_attempt_at']) if j['next_attempt_at'] else ''} "
                      f"{j['last_error']}")


@click.command(name="log")
@click.option("--status", "status_filter", default=None, callback=clean_arg,
              help="normalized status")
@click.option("--since", default=None, help="e.g. 30m, 2h, 1d or an ISO time")
@click.option("--limit", type=int, default=50)
@click.option("--json", "as_json", is_flag=True)
def log_cmd(status_filter: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Recent entries of the delivery-status log."""
    with uow.read(runtime()) as s:
        rows = recent_log(s, status=status_filter, since=parse_since(since), limit=limit)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        echo_line(format_log_row(r))


def format_log_row(r: dict) -> str:
    mark = "✓" if r["applied"] else "·"
    return (f"{mark} {r['at']} {r['dossier_code']:<28} {r['status'] or '-':<18} "
            f"{r['raw_code']:>4} {r['raw_text'][:34]:<34} {_path(r['source'])} {r['reason_vi']}")


def _path(source: str) -> str:
    """The path an event came by, in words (the carrier's feed or its push, the one-stop,
    the desk...), padded to one column."""
    return f"{SOURCE_VI.get(source, source):<26}"


@click.command()
@click.option("--json", "as_json", is_flag=True)
def stuck(as_json: bool) -> None:
    """Open SLA breaches (late or stuck hand-offs), worst first."""
    with uow.read(runtime()) as s:
        rows = sla.stuck(s)
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
    rt = runtime()
    ids: list[int | str] = list(job_ids)
    if all_dead:
        with uow.read(rt) as s:
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
    """Run one SLA pass now: record late or stuck hand-offs and queue their notifications."""
    now = parse_moment(now_text, "--now") if now_text else None
    result = sla.mark(runtime(), now)
    if not result.ran:
        click.echo("một tiến trình khác đang kiểm tra hạn, bỏ qua lần này")
        return
    click.echo(f"mới {result.opened}, mở lại {result.reopened}, đã hết {result.cleared}, "
               f"xếp gửi {result.queued} thông báo")
    if result.skipped:  # their ids are in the log; the others were judged as usual
        click.echo(f"bỏ qua {result.skipped} hồ sơ có dữ liệu ngày giờ không đọc được "
                   "(xem nhật ký)", err=True)
