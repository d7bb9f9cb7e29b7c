"""Rings the doorbell: publishes 'run job N' for new rows and for every due row the sweep finds."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select

from worker.bootstrap import Runtime
from worker.db.models import Heartbeat, utcnow
from worker.service import leases, ledger

log = logging.getLogger(__name__)
SWEEP_LEASE = "sweep"


def ring(rt: Runtime, job_ids: Iterable[int]) -> int:
    """Publish one message per job. A failed publish is only logged: the sweep rings again."""
    from worker.tasks import run_job

    ids = [i for i in job_ids if i is not None]
    sent = 0
    for job_id in ids:
        try:
            run_job.apply_async((job_id,), retry=False)
            sent += 1
        except Exception as err:  # broker down: the row stays due in the ledger
            log.warning("could not ring job %s: %s", job_id, type(err).__name__)
            break
    if sent:
        with rt.db.unit_of_work() as s:
            ledger.mark_rung(s, ids[:sent])
    return sent


def sweep(rt: Runtime) -> int:
    """Ring every due row not rung recently. Under a lease so two beats don't double-ring."""
    with rt.db.unit_of_work() as s:
        if not leases.acquire(s, SWEEP_LEASE, rt.settings.lease_seconds):
            return 0
        ids = ledger.due_job_ids(s, rt.settings.redispatch_after)
    try:
        return ring(rt, ids)
    finally:
        with rt.db.unit_of_work() as s:
            leases.release(s, SWEEP_LEASE)


def beat_heartbeat(rt: Runtime, name: str) -> None:
    with rt.db.unit_of_work() as s:
        row = s.scalar(select(Heartbeat).where(Heartbeat.name == name))
        if row is None:
            s.add(Heartbeat(name=name, at=utcnow()))
        else:
            row.at = utcnow()
