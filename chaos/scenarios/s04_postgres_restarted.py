"""4. PostgreSQL restarted twice during a run (`pg_ctl stop -m fast`, then `-m immediate`, a
crash), then unreachable for a while (every connection reset and new ones refused, through
the suite's TCP proxy): everything completes, nothing lost or done twice, and the workers,
beat and web carry on by themselves (none of them is restarted by the suite).

A batch of hand-offs is seeded just before each fault, so work is in flight when it hits.
Time to recover: the longest, over the three faults, from PostgreSQL being back to the next
progress (a status-log row or a finished ledger row).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from chaos import measure
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database

NAME = "PostgreSQL restarted, then unreachable"


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, outage_s = int(size["handoffs"]), float(size["outage_s"])
    batch = max(1, n // 3)
    with world_factory(proxy_pg=True) as world:
        world.start()
        db = world.db()
        codes: list[str] = []
        recoveries: dict[str, float | None] = {}
        for mode in ("fast", "immediate"):
            codes += world.seed(batch)
            # the fault hits while this batch is being worked on
            _wait_progress(db, batch)
            world.pg.restart(mode)
            recoveries[f"restart -m {mode}"] = measure.seconds_until_progress(db, 120)
        codes += world.seed(n - len(codes))
        _wait_progress(db, batch // 4)
        world.pg_proxy.cut()
        time.sleep(outage_s)
        world.pg_proxy.forward()
        recoveries[f"unreachable {outage_s:.0f} s"] = measure.seconds_until_progress(db, 120)
        exited = world.exited()
        world.wait_all_final(codes, timeout=max(180, n * 0.8))
        world.wait_drained(90)
        worst = max((r if r is not None else float("inf")) for r in recoveries.values())
        row = world.verdict(NAME, codes, worst, notes="; ".join(
            f"{what}: progress {took:.1f} s after" if took is not None
            else f"{what}: no progress within 120 s" for what, took in recoveries.items()))
        failures = []
        if any(took is None for took in recoveries.values()):
            failures.append("no progress within 120 s of PostgreSQL coming back")
        if exited:
            failures.append(f"processes exited during the faults (exit codes): {exited}")
        return row.fail(failures)


def _wait_progress(db: Database, marks: int) -> None:
    """Until the progress mark moved `marks` past its value now (at most 120 s)."""
    before = measure.progress_mark(db)
    measure.time_until(lambda: measure.progress_mark(db) > before + marks, 120)


SCENARIO = Scenario(number=4, name=NAME, full={"handoffs": 600, "outage_s": 60},
                    short={"handoffs": 120, "outage_s": 20}, run=run, mostly_waits=True)
