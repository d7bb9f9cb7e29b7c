"""6. Lost replies: the post office creates the order and its reply never arrives (the
simulator holds it past the worker's timeout: a timeout, not a 504), once for every hand-off:
exactly one order per hand-off all the same, the retry recognised by the OrderNumber.

Time to recover: from the last reply lost to every hand-off accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from chaos import measure
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.db.models import Handoff

NAME = "Lost replies"


def _none_requested(db: Database) -> bool:
    with db.unit_of_work() as s:
        return not s.scalar(select(func.count()).select_from(Handoff).where(
            Handoff.status == "requested"))


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n = int(size["handoffs"])
    # four pool processes: a held reply keeps one waiting for the whole timeout
    with world_factory(extra_env={"HANDOFF_WORKER_CONCURRENCY": "4"}) as world:
        world.start()
        world.stack.carrier_admin("faults", {"lose_reply_next": n, "timeout_sleep_s": 8.0,
                                             "return_rate": 0.0, "pickup_fail_rate": 0.0})
        db = world.db()
        codes = world.seed(n)
        held = measure.time_until(
            lambda: world.stack.carrier_admin("faults")["lose_reply_next"] == 0, n * 3 + 60)
        recover = measure.time_until(lambda: _none_requested(db), 120)
        world.wait_all_final(codes, timeout=120)
        world.wait_drained(60)
        stats = world.stack.carrier_admin("stats")
        retried = sum(1 for o in stats["orders_by_number"].values() if o["posts"] >= 2)
        row = world.verdict(NAME, codes, recover,
                            notes=f"{stats['timeouts_injected']} replies lost (held past the "
                                  f"worker's timeout); {stats['orders']} orders for {n} "
                                  f"hand-offs; {retried} posted again and recognised")
        problems = []
        if held is None or stats["timeouts_injected"] != n:
            problems.append(f"only {stats['timeouts_injected']} of {n} replies were lost")
        if stats["orders"] != n:
            problems.append(f"{stats['orders']} orders at the post office for {n} hand-offs")
        if recover is None:
            problems.append("hand-offs still waiting for an order 120 s after the last loss")
        return row.fail(problems)


SCENARIO = Scenario(number=6, name=NAME, full={"handoffs": 100}, short={"handoffs": 20},
                    run=run, mostly_waits=True)
