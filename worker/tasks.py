"""Thin Celery tasks: take ids, call one service function, ring what it created."""

from __future__ import annotations

from collections.abc import Iterable

from celery import Celery

from worker import dispatcher
from worker.bootstrap import Runtime, runtime
from worker.health import FLEET_HEARTBEAT, host_heartbeat
from worker.service import feeds, outbound, sla

app = Celery("handoff")
app.config_from_object("celeryconfig")


def _finish(rt: Runtime, new_jobs: Iterable[int] = (), beat: str = FLEET_HEARTBEAT) -> None:
    """Ring what the task created, then say this host consumed work (for `handoff check`)."""
    dispatcher.ring(rt, new_jobs)
    dispatcher.beat_heartbeat(rt, beat, host_heartbeat())


@app.task(name="handoff.run_job", ignore_result=True)
def run_job(job_id: int) -> None:
    rt = runtime()
    _finish(rt, outbound.run_job(rt, job_id))


@app.task(name="handoff.sweep", ignore_result=True)
def sweep() -> None:
    rt = runtime()
    dispatcher.sweep(rt)
    _finish(rt)


@app.task(name="handoff.poll_onestop", ignore_result=True)
def poll_onestop() -> None:
    rt = runtime()
    _finish(rt, feeds.poll_onestop(rt)[1], "poll:onestop")


@app.task(name="handoff.poll_carrier", ignore_result=True)
def poll_carrier() -> None:
    rt = runtime()
    _finish(rt, feeds.poll_carrier(rt)[1], "poll:carrier")


@app.task(name="handoff.mark_sla", ignore_result=True)
def mark_sla() -> None:
    rt = runtime()
    sla.mark(rt)
    _finish(rt)
