"""The Celery bell (publishes 'run job N' and marks the row rung), the sweep that rings every
due row again, and the heartbeats of the processes that consume work."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from worker.celery_app import RUN_JOB, app
from worker.db.engine import Database
from worker.db.models import Heartbeat, utcnow
from worker.ports.bell import Bell
from worker.service import leases, ledger

if TYPE_CHECKING:
    from worker.bootstrap import Runtime

log = logging.getLogger(__name__)
SWEEP_LEASE = "sweep"


class CeleryBell(Bell):
    """The production bell: one broker message per job, sent by task name."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ring(self, job_ids: Sequence[int]) -> int:
        """A failed publish is only logged: the row stays due and the sweep rings it again."""
        ids = [i for i in job_ids if i is not None]
        sent = 0
        for job_id in ids:
            try:
                app.send_task(RUN_JOB, args=(job_id,), retry=False)
                sent += 1
            except Exception as err:  # broker down: the row stays due in the ledger
                log.warning("could not ring job %s: %s", job_id, type(err).__name__)
                break
        if sent:
            with self.db.unit_of_work() as s:
                ledger.mark_rung(s, ids[:sent])
        return sent


def sweep(rt: Runtime) -> int:
    """Ring every due row not rung recently. Under a lease so two beats don't double-ring."""
    with rt.db.unit_of_work() as s:
        if not leases.acquire(s, SWEEP_LEASE, rt.settings.lease_seconds):
            return 0
        ids = ledger.due_job_ids(s, rt.settings.redispatch_after)
    try:
        return rt.bell.ring(ids)
    finally:
        with rt.db.unit_of_work() as s:
            leases.release(s, SWEEP_LEASE)


def beat_heartbeat(rt: Runtime, *names: str) -> None:
    """Mark each named heartbeat as beating now (see worker/health.py for the names).
    Two processes of one host may insert the same row at once: the loser just updates."""
    now = utcnow()
    with rt.db.unit_of_work() as s:
        for name in names:
            if s.execute(update(Heartbeat).where(Heartbeat.name == name)
                         .values(at=now)).rowcount == 1:  # type: ignore[attr-defined]
                continue
            try:
                with s.begin_nested():
                    s.add(Heartbeat(name=name, at=now))
            except IntegrityError:
                s.execute(update(Heartbeat).where(Heartbeat.name == name).values(at=now))
