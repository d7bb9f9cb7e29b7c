"""Thin Celery tasks: take ids, call one service function, say this host consumed work.
Jobs a service creates are rung by its unit of work after commit, never here."""

from __future__ import annotations

import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_shutdown

from worker.bootstrap import runtime
from worker.db import failures
from worker.launch.celery_app import RUN_JOB, RUN_JOBS, app
from worker.launch.health import FLEET_HEARTBEAT, beat_heartbeat, host_heartbeat
from worker.service.flow import feeds, sla
from worker.service.jobs import runner, sweeper, together
from worker.service.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["app"]  # `celery -A worker.tasks` and the CLI find the app here

# A task's soft time limit stops its work from outside: never taken for an entry's fault
# (quarantined, the entry would be skipped), always raised through (worker/db/failures.py).
failures.ABORTS.append(SoftTimeLimitExceeded)

# A feed poll (all its accounts together) stops itself within feeds.MAX_SECONDS and holds its
# lease no longer. One past that is stuck, e.g. waiting for a reply on a database
# connection that went silent (a partition): the soft limit rolls its transaction back and
# frees the pool process for the work behind it long before the tasks' own limit (300 s).
PERIODIC = {"soft_time_limit": feeds.MAX_SECONDS + 30, "time_limit": feeds.MAX_SECONDS + 60}


# A heartbeat is a write: once per process in this many seconds is plenty for `handoff
# check` (it looks for one within a minute), where one per ledger row was a transaction
# for every row run.
BEAT_EVERY_S = 5.0
_last_beat: dict[str, float] = {}


def _beat(rt: Runtime, name: str = FLEET_HEARTBEAT) -> None:
    """Say this host consumed work (for `handoff check`), at most every BEAT_EVERY_S."""
    now = time.monotonic()
    if now - _last_beat.get(name, -BEAT_EVERY_S) < BEAT_EVERY_S:
        return
    beat_heartbeat(rt.db, name, host_heartbeat())
    _last_beat[name] = now


@worker_process_shutdown.connect
def _settle_in_flight(**_: object) -> None:
    """A pool process that ends (a warm shutdown, a restart) gives back the rows its last
    messages left waiting for a thread and settles the calls in flight before it exits
    (together.py: a task returns while its last rows wait for a thread)."""
    if not together.stop_in_flight(together.IN_FLIGHT_WAIT):
        log.warning("calls still in flight after %.0f s: left to their leases and the sweep",
                    together.IN_FLIGHT_WAIT)


@app.task(name=RUN_JOB, ignore_result=True)
def run_job(job_id: int) -> None:
    rt = runtime()
    runner.run_job(rt, job_id)
    _beat(rt)


@app.task(name=RUN_JOBS, ignore_result=True)
def run_jobs(job_ids: list[int]) -> None:
    rt = runtime()
    together.run_jobs(rt, [int(i) for i in job_ids])
    _beat(rt)


@app.task(name="handoff.sweep", ignore_result=True)
def sweep() -> None:
    rt = runtime()
    sweeper.sweep(rt)
    _beat(rt)


@app.task(name="handoff.poll_onestop", ignore_result=True, **PERIODIC)
def poll_onestop() -> None:
    rt = runtime()
    feeds.poll_onestop(rt)
    _beat(rt, "poll:onestop")


@app.task(name="handoff.poll_carrier", ignore_result=True, **PERIODIC)
def poll_carrier() -> None:
    rt = runtime()
    feeds.poll_carrier(rt)
    _beat(rt, "poll:carrier")


@app.task(name="handoff.mark_sla", ignore_result=True)
def mark_sla() -> None:
    rt = runtime()
    sla.mark(rt)
    _beat(rt)
