"""The sweep: rings every due ledger row again, so a ring lost before or after commit is
only a delay."""

from __future__ import annotations

from worker.service import leases, ledger
from worker.service.runtime import Runtime

SWEEP_LEASE = "sweep"


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
