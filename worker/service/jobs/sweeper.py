"""The sweep: rings every due ledger row again, so a ring lost before or after commit is
only a delay; takes up hand-offs left waiting for an agency that is enabled by now; and
folds the metric deltas into their totals (also when nothing scrapes /metrics)."""

from __future__ import annotations

from worker.db import metric_counts
from worker.service import ledger
from worker.service.flow.waiting import take_up_enabled
from worker.service.ledger import leases, uow
from worker.service.runtime import Runtime

SWEEP_LEASE = "sweep"


def sweep(rt: Runtime) -> int:
    """Ring every due row not rung recently. Under a lease so two beats don't double-ring."""
    with leases.held(rt, SWEEP_LEASE) as got:
        if not got:
            return 0
        with uow.begin(rt) as s:  # posts it queues are rung after this commits
            take_up_enabled(s)  # hand-offs still waiting for an agency now enabled
        with rt.db.unit_of_work() as s:  # marked rung when this commits
            due = ledger.due_jobs(s, rt.settings.redispatch_after)
        rung = uow.ring(rt, due)  # the carrier's rows where the workers look first
        with rt.db.unit_of_work() as s:  # the metric deltas stay few, scraped or not
            metric_counts.fold(s)
        return rung
