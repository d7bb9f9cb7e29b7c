"""The `handoff` command: run the processes, simulators and demo; read the log."""

from __future__ import annotations

import json
import logging
import sys

import click

from worker.cli_ops import clean_arg, echo_line, parse_since
from worker.settings import get_settings


def _refuse_demo_secrets() -> None:
    """Stop worker, beat or web off the embedded default while a secret is not real."""
    from worker.secrets_check import ALLOW_SWITCH, demo_values_admitted, secret_problems

    settings = get_settings()
    problems = secret_problems(settings)
    if problems:
        click.echo(
            "refusing to start: this is not the embedded default (SQLite), and these settings "
            "are not fit for production (values are never printed):\n  "
            + "\n  ".join(str(p) for p in problems) + "\n"
            "Run `handoff secrets` for fresh values to paste into .env; HANDOFF_AGENCIES "
            f"replaces the demo sender block. {ALLOW_SWITCH}=true admits only the built-in "
            "demo values, for a staging run against the simulators.",
            err=True)
        sys.exit(2)
    admitted = demo_values_admitted(settings)
    if admitted:
        click.echo(f"warning: {ALLOW_SWITCH}=true: running on public demo values of "
                   + ", ".join(admitted) + " (staging against the simulators only)", err=True)


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
def main() -> None:
    """postal-handoff: one-stop desk <-> Vietnam Post worker."""


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from worker.db.migrate import upgrade

    _setup_logging()
    upgrade(get_settings().resolved_database_url())
    click.echo("database is at the latest schema")


def _prepare_embedded() -> None:
    s = get_settings()
    s.home.mkdir(parents=True, exist_ok=True)
    if s.resolved_database_url().startswith("sqlite"):
        from worker.db.migrate import upgrade

        upgrade(s.resolved_database_url())  # the embedded default migrates itself


@main.command()
@click.option("--concurrency", "-c", type=int, default=None)
@click.option("--loglevel", "-l", default="INFO")
def worker(concurrency: int | None, loglevel: str) -> None:
    """Run a Celery worker (scale by running more)."""
    _refuse_demo_secrets()
    _prepare_embedded()
    from worker.tasks import app

    s = get_settings()
    argv = ["worker", "-Q", "handoff", "-l", loglevel,
            "-c", str(concurrency or s.worker_concurrency)]
    if s.embedded:
        argv += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    app.worker_main(argv=argv)


@main.command()
@click.option("--loglevel", "-l", default="INFO")
@click.option("--schedule", "-s", default=None, help="beat's schedule file (one per beat)")
def beat(loglevel: str, schedule: str | None) -> None:
    """Run Celery beat (it only rings; leases make a second beat harmless)."""
    _refuse_demo_secrets()
    _prepare_embedded()
    from worker.tasks import app

    path = schedule or str(get_settings().home / "celerybeat-schedule")
    app.start(["beat", "-l", loglevel, "-s", path])


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def web(host: str | None, port: int | None) -> None:
    """Serve webhooks, health, desk and ops pages."""
    _refuse_demo_secrets()
    import uvicorn

    from worker.web import logfilter
    from worker.web.app import create_app

    _prepare_embedded()
    s = get_settings()
    config = uvicorn.Config(create_app(), host=host or s.web_host, port=port or s.web_port,
                            log_level="info")
    server = uvicorn.Server(config)  # its logging is configured now; then add our filter
    logfilter.install()
    server.run()


@main.command()
@click.argument("system", type=click.Choice(["carrier", "onestop"]))
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=None)
@click.option("--speed", type=float, default=600.0, help="carrier clock speed-up factor")
def simulate(system: str, host: str, port: int | None, speed: float) -> None:
    """Serve a simulator of the carrier (VNPost N-GSP) or the one-stop system."""
    if system == "carrier":
        from simulators.carrier import app as carrier_sim

        carrier_sim.run(host=host, port=port or 8701, speed=speed)
    else:
        from simulators.onestop import app as onestop_sim

        onestop_sim.run(host=host, port=port or 8702)


@main.command()
@click.argument("code", callback=clean_arg)
@click.option("--json", "as_json", is_flag=True)
def status(code: str, as_json: bool) -> None:
    """Timeline of one hand-off (dossier code, order number or item code)."""
    from worker.bootstrap import runtime
    from worker.reports import find_handoffs, timeline

    with runtime().db.unit_of_work() as s:
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
                      f"{e['raw_text'][:40]:<40} {e['source']:<8} {e['reason_vi']}")
        for j in t["jobs"]:
            echo_line(f"  job {j['id']} {j['kind']} {j['state']} attempts={j['attempts']} "
                      f"{('next ' + j['next_attempt_at']) if j['next_attempt_at'] else ''} "
                      f"{j['last_error']}")


@main.command(name="log")
@click.option("--status", "status_filter", default=None, callback=clean_arg,
              help="normalized status")
@click.option("--since", default=None, help="e.g. 30m, 2h, 1d or an ISO time")
@click.option("--limit", type=int, default=50)
@click.option("--json", "as_json", is_flag=True)
def log_cmd(status_filter: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Recent entries of the delivery-status log."""
    from worker.bootstrap import runtime
    from worker.reports import recent_log

    with runtime().db.unit_of_work() as s:
        rows = recent_log(s, status=status_filter, since=parse_since(since), limit=limit)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        echo_line(format_log_row(r))


def format_log_row(r: dict) -> str:
    mark = "✓" if r["applied"] else "·"
    return (f"{mark} {r['at']} {r['dossier_code']:<28} {r['status'] or '-':<18} "
            f"{r['raw_code']:>4} {r['raw_text'][:34]:<34} {r['source']:<8} {r['reason_vi']}")


@main.command()
def check() -> None:
    """Exit non-zero when no worker consumed work recently or a feed cursor went stale."""
    from worker.health import liveness

    problems = liveness(get_settings())
    for p in problems:
        click.echo(f"UNHEALTHY: {p}", err=True)
    if problems:
        sys.exit(1)
    click.echo("ok")


@main.command(name="secrets")
def secrets_cmd() -> None:
    """Print fresh secrets as HANDOFF_X=... lines to paste into .env."""
    from worker.secrets_check import fresh_env_lines

    click.echo("\n".join(fresh_env_lines()))


@main.command()
@click.option("--count", type=int, default=24)
@click.option("--timeout", type=float, default=115.0)
@click.option("--serve", is_flag=True,
              help="afterwards keep everything running, with demo logins, until Ctrl-C")
def demo(count: int, timeout: float, serve: bool) -> None:
    """Run everything on the embedded default and drive result-ready dossiers to the end."""
    from worker.demo import run_demo

    sys.exit(run_demo(count=count, timeout=timeout, serve=serve))


from worker.cli_desk import register as _register_desk  # noqa: E402
from worker.cli_ops import register as _register_ops  # noqa: E402
from worker.cli_tokens import register as _register_tokens  # noqa: E402

_register_desk(main)
_register_ops(main)
_register_tokens(main)


if __name__ == "__main__":
    main()
