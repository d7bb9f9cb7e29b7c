"""`handoff` commands that run a process: migrate, worker, beat, web, simulate, demo; secrets."""

from __future__ import annotations

import sys
from typing import Any

import click

from worker.domain.enums import Route

# Each command imports what it needs when it runs: a simulator never loads the database's
# migrations, a worker never the demo. (Every `handoff` process paid for all of them, about
# half a second of CPU each: the test suite starts hundreds.)


def _refuse_demo_secrets() -> None:
    """Stop worker, beat or web off the embedded default while a secret is not real."""
    from worker.cli.stored_accounts_guard import refuse_weak_stored_accounts  # lazy (see top)
    from worker.secrets_check import (  # lazy (see top)
        ALLOW_SWITCH,
        demo_values_admitted,
        secret_problems,
    )
    from worker.settings import get_settings  # lazy (see top)

    settings = get_settings()
    problems = secret_problems(settings)
    if problems:
        click.echo(
            "refusing to start: this is not the embedded default (SQLite), and these settings "
            "are not fit for production (values are never printed):\n  "
            + "\n  ".join(str(p) for p in problems) + "\n"
            "Run `handoff secrets` for fresh values to paste into .env. "
            f"{ALLOW_SWITCH}=true admits only the built-in "
            "demo values, for a staging run against the simulators.",
            err=True)
        sys.exit(2)
    refuse_weak_stored_accounts(settings)  # the agencies' accounts in the database too
    admitted = demo_values_admitted(settings)
    if admitted:
        click.echo(f"warning: {ALLOW_SWITCH}=true: running on public demo values of "
                   + ", ".join(admitted) + " (staging against the simulators only)", err=True)


@click.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from worker.cli.agencies import seed_fresh_database  # lazy (see top)
    from worker.cli.common import setup_logging  # lazy (see top)
    from worker.db.migrate import upgrade  # lazy (see top)
    from worker.settings import get_settings  # lazy (see top)

    setup_logging()
    upgrade(get_settings().resolved_database_url())
    click.echo("database is at the latest schema")
    seed_fresh_database()  # a fresh database: its agencies from HANDOFF_AGENCIES


@click.command()
@click.option("--concurrency", "-c", type=int, default=None)
@click.option("--loglevel", "-l", default="INFO")
@click.option("--beat", "beat_schedule", default=None, metavar="SCHEDULE",
              help="also ring the periodic work from this worker (Celery's embedded beat, a "
                   "thread of its main process), its schedule in this file: one machine with one "
                   "worker (`handoff demo`); a deployment runs `handoff beat`")
def worker(concurrency: int | None, loglevel: str, beat_schedule: str | None) -> None:
    """Run a Celery worker (scale by running more)."""
    from worker.cli.common import prepare_embedded  # lazy (see top)
    from worker.settings import get_settings  # lazy (see top)

    if beat_schedule is not None and (not beat_schedule.strip() or beat_schedule[0] == "-"):
        raise click.BadParameter("the beat's schedule file: a path, e.g. var/beat-schedule",
                                 param_hint="--beat")
    _refuse_demo_secrets()
    prepare_embedded()
    # Celery and the task modules load only in the processes that run them (worker, beat).
    from worker.launch.queues import LOOKED_IN  # lazy (see top)
    from worker.tasks import app  # lazy (see top)

    s = get_settings()
    # the periodic rings' queue first, then the carrier's rows', then the other rows'
    # (worker/launch/queues.py)
    argv = ["worker", "-Q", ",".join(LOOKED_IN), "-l", loglevel,
            "-c", str(concurrency or s.worker_concurrency)]
    # No mingle: at start it asks the other workers for their revoked tasks (the ledger
    # decides what runs; nothing is ever revoked) and waited a second for answers before
    # the worker took its first message, on every start and restart.
    argv.append("--without-mingle")
    if s.embedded:
        argv += ["--without-gossip", "--without-heartbeat"]
    if beat_schedule is not None:  # (leases make a second beat beside it harmless)
        # a thread of the worker's main process, not Celery's forked beat (beat.py)
        from worker.launch.beat import add_beat_thread  # lazy (see top)

        add_beat_thread(app)
        argv += ["--beat-thread", "--schedule", beat_schedule]
    sys.exit(_run_worker(app, argv))


def _run_worker(app: Any, argv: list[str]) -> int:
    """Run the worker; its exit code, which `worker_main` drops: 1 after Celery's
    "Unrecoverable error", so that systemd (Restart=on-failure) and compose start it again."""
    from celery.signals import worker_shutdown  # Celery only in the processes that run it

    codes: list[object] = []

    def keep(sender: Any, **_: Any) -> None:
        codes.append(sender.exitcode)

    worker_shutdown.connect(keep, weak=False)
    try:
        app.worker_main(argv=argv)
    finally:
        worker_shutdown.disconnect(keep)
    code = codes[-1] if codes else 0
    return code if isinstance(code, int) else (1 if code else 0)


@click.command()
@click.option("--loglevel", "-l", default="INFO")
@click.option("--schedule", "-s", default=None, help="beat's schedule file (one per beat)")
def beat(loglevel: str, schedule: str | None) -> None:
    """Run Celery beat (it only rings; leases make a second beat harmless)."""
    from worker.cli.common import prepare_embedded  # lazy (see top)
    from worker.settings import get_settings  # lazy (see top)

    _refuse_demo_secrets()
    prepare_embedded()
    # Beat only sends the periodic rings, by name (celeryconfig.py's beat_schedule, routed
    # by name too): the app without the task modules (the flows, the jobs, the carrier
    # adapters) it never runs, about 19 MB less resident.
    from worker.launch.celery_app import app  # Celery loads only where it runs

    path = schedule or str(get_settings().home / "celerybeat-schedule")
    app.start(["beat", "-l", loglevel, "-s", path])


@click.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def web(host: str | None, port: int | None) -> None:
    """Serve webhooks, health, desk and ops pages."""
    from worker.cli.common import prepare_embedded  # lazy (see top)
    from worker.settings import get_settings  # lazy (see top)

    _refuse_demo_secrets()
    # The web stack (Starlette app, templates, uvicorn) loads only in the web process.
    import uvicorn

    from worker.launch.heap import freeze_started_heap  # lazy (see top)
    from worker.web import logfilter  # (the web stack, as above)
    from worker.web.app import create_app  # lazy (see top)

    prepare_embedded()
    s = get_settings()
    config = uvicorn.Config(create_app(), host=host or s.web_host, port=port or s.web_port,
                            log_level="info")
    server = uvicorn.Server(config)  # its logging is configured now; then add our filter
    logfilter.install()
    freeze_started_heap()  # (no collection walks the app again: a page's pause, heap.py)
    server.run()


@click.command()
@click.argument("system", type=click.Choice(["carrier", "onestop"]))
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=None)
@click.option("--speed", type=float, default=600.0, help="carrier clock speed-up factor")
@click.option("--route", type=click.Choice([r.value for r in Route] + ["both"]), default="both",
              help="carrier door(s): ngsp (route A), lgsp (route B, port 8703), both (8701)")
@click.option("--account", "accounts", multiple=True, envvar="HANDOFF_SIM_CARRIER_ACCOUNTS",
              help="KEY:SECRET:CUSTOMER_CODE the carrier accepts besides the demo account")
@click.option("--onestop-port", type=click.IntRange(1, 65535), default=None,
              help="with `carrier`: serve the one-stop simulator too, on this port, from the "
                   "same process (`handoff demo`: one process fewer)")
def simulate(system: str, host: str, port: int | None, speed: float, route: str,
             accounts: tuple[str, ...], onestop_port: int | None) -> None:
    """Serve a simulator of the carrier (VNPost N-GSP and LGSP doors) or the one-stop system."""
    # This command is the simulators' launcher (the image runs `handoff simulate` in the
    # compose `sim` profile), the one place production code names them: imported only when
    # it runs, so no other command or process ever loads simulator code. .importlinter
    # lists exactly these two imports as the exception.
    if system == "carrier":
        from simulators.carrier import app as carrier_sim  # (the launcher, as above)

        try:
            known = dict(carrier_sim.parse_account(a) for a in accounts)
        except ValueError:  # the message never repeats the text: it holds a secret
            raise click.BadParameter("mỗi tài khoản có dạng KHÓA:MẬT_KHẨU:MÃ_KHÁCH_HÀNG",
                                     param_hint="--account") from None
        doors = list(Route) if route == "both" else [Route(route)]
        default_port = 8703 if doors == [Route.LGSP] else 8701
        if onestop_port is not None:  # (a daemon thread: it ends with the carrier's server)
            from simulators.onestop import app as onestop_sim  # (the launcher, as above)

            onestop_sim.serve_in_thread(host=host, port=onestop_port)
        carrier_sim.run(host=host, port=port or default_port, speed=speed, doors=doors,
                        accounts=known)
    else:
        if onestop_port is not None:
            raise click.BadParameter("only with `carrier`", param_hint="--onestop-port")
        from simulators.onestop import app as onestop_sim  # (the launcher, as above)

        onestop_sim.run(host=host, port=port or 8702)


@click.command(name="secrets")
def secrets_cmd() -> None:
    """Print fresh secrets as HANDOFF_X=... lines to paste into .env."""
    from worker.secrets_check import fresh_env_lines  # lazy (see top)

    click.echo("\n".join(fresh_env_lines()))


@click.command()
@click.option("--count", type=int, default=24)
@click.option("--timeout", type=float, default=115.0)
@click.option("--serve", is_flag=True,
              help="afterwards keep everything running, with demo logins, until Ctrl-C")
def demo(count: int, timeout: float, serve: bool) -> None:
    """Run everything on the embedded default and drive result-ready dossiers to the end."""
    from worker.launch.demo import run_demo  # lazy (see top)

    sys.exit(run_demo(count=count, timeout=timeout, serve=serve))
