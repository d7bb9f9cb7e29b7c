"""Thin Celery tasks: take ids, call one service function, ring what it created."""

from __future__ import annotations

from celery import Celery

from worker import dispatcher
from worker.bootstrap import runtime
from worker.health import FLEET_HEARTBEAT, host_heartbeat
from worker.service import feeds, outbound, sla

app = Celery("handoff")
app.config_from_object("celeryconfig")


@app.task(name="handoff.run_job", ignore_result=True)
def run_job(job_id: int) -> None:
    rt = runtime()
    dispatcher.ring(rt, outbound.run_job(rt, job_id))
    dispatcher.beat_heartbeat(rt, FLEET_HEARTBEAT, host_heartbeat())


@app.task(name="handoff.sweep", ignore_result=True)
def sweep() -> None:
    rt = runtime()
    dispatcher.sweep(rt)
    dispatcher.beat_heartbeat(rt, FLEET_HEARTBEAT, host_heartbeat())


@app.task(name="handoff.poll_onestop", ignore_result=True)
def poll_onestop() -> None:
    rt = runtime()
    _, jobs = feeds.poll_onestop(rt)
    dispatcher.ring(rt, jobs)
    dispatcher.beat_heartbeat(rt, "poll:onestop", host_heartbeat())


@app.task(name="handoff.poll_carrier", ignore_result=True)
def poll_carrier() -> None:
    rt = runtime()
    _, jobs = feeds.poll_carrier(rt)
    dispatcher.ring(rt, jobs)
    dispatcher.beat_heartbeat(rt, "poll:carrier", host_heartbeat())


@app.task(name="handoff.mark_sla", ignore_result=True)
def mark_sla() -> None:
    rt = runtime()
    sla.mark(rt)
    dispatcher.beat_heartbeat(rt, FLEET_HEARTBEAT, host_heartbeat())
