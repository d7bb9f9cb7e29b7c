"""The Celery application (configured from celeryconfig.py) and the production bell that
rings through it; tasks live in worker/tasks.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, Task
from celery.signals import beat_init, before_task_publish, worker_init
from celery.worker.request import Request

from worker.db import clock
from worker.db.engine import Database, make_engine
from worker.launch.heap import freeze_started_heap
from worker.launch.queues import CARRIER_QUEUE
from worker.ports.bell import Bell
from worker.service import ledger
from worker.settings import Settings

log = logging.getLogger(__name__)

# The names rings send: one row, or the rows of one message (worker/tasks.py registers
# the tasks under them).
RUN_JOB = "handoff.run_job"
RUN_JOBS = "handoff.run_jobs"



class DatabaseClockRequest(Request):
    """A task request whose expiry (put on the database server's clock by its sender,
    `_expiry_on_server_clock`) is read on this process's clock: a worker whose clock runs
    ahead would otherwise discard every periodic ring as expired (worker/db/clock.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        expires: datetime | None = self._expires  # type: ignore[has-type]  # untyped Celery
        if expires is not None and clock.offset():
            self._expires = expires - timedelta(seconds=clock.offset())


class HandoffTask(Task):  # type: ignore[misc]  # Celery's Task is untyped
    Request = DatabaseClockRequest


app = Celery("handoff", task_cls=HandoffTask)
app.config_from_object("celeryconfig")  # lazy: read on first use, not at import


@before_task_publish.connect
def _expiry_on_server_clock(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """An absolute expiry written by this process's clock (beat's rings) is put on the
    database server's clock."""
    if not headers or not headers.get("expires") or not clock.offset():
        return
    try:
        at = datetime.fromisoformat(str(headers["expires"]))
    except ValueError:
        return
    headers["expires"] = (at + timedelta(seconds=clock.offset())).isoformat()


@worker_init.connect
@beat_init.connect
def _measure_server_clock(**_: Any) -> None:
    """A worker's main process and beat open no database session of their own: their clock
    offset is measured once as they start, in their main thread (before the pool forks).
    Pool processes measure on their own connections, again every minute."""
    from worker.settings import get_settings  # read when a process starts, not at import

    url = get_settings().resolved_database_url()
    if not url.startswith("sqlite"):  # the embedded default: one machine, one clock
        clock.measure_once(make_engine(url))


@worker_init.connect
def _freeze_before_fork(**_: Any) -> None:
    """The objects the worker's main process has made by now are left out of the garbage
    collector's passes, in it and in the pool processes it forks (heap.py). `make demo`'s
    pool processes: 96 and 94 MB of PSS -> 83 and 80 MB (bench/RESULTS.md)."""
    freeze_started_heap()


class CeleryBell(Bell):
    """The production bell: one broker message per `job_batch` rows (a pool process runs
    them side by side, worker/service/jobs/together.py `run_jobs`), sent by task name."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.batch = settings.job_batch

    def ring(self, job_ids: Sequence[int], *, first: bool = False) -> int:
        """The rows come marked rung (by the transaction that made them, or the sweep's). A
        failed publish is only logged, and the unsent rows' mark is taken back so that the
        sweep rings them again at its next round, not a redispatch period later."""
        ids = [i for i in job_ids if i is not None]
        queue = CARRIER_QUEUE if first else None  # (None: the rows' queue, celeryconfig.py)
        sent = 0
        while sent < len(ids):
            chunk = ids[sent:sent + self.batch]
            try:
                if len(chunk) == 1:
                    app.send_task(RUN_JOB, args=(chunk[0],), retry=False, queue=queue)
                else:
                    app.send_task(RUN_JOBS, args=(chunk,), retry=False, queue=queue)
            except Exception as err:  # broker down: the rows stay due in the ledger
                log.warning("could not ring jobs %s: %s", chunk, type(err).__name__)
                self._unmark(ids[sent:])
                break
            sent += len(chunk)
        return sent

    def _unmark(self, ids: list[int]) -> None:
        try:
            with self.db.unit_of_work() as s:
                ledger.unmark_rung(s, ids)
        except Exception as err:  # the database away too: rung again after the redispatch
            log.warning("could not unmark %d rows: %s", len(ids), type(err).__name__)
