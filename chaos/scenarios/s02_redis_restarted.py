"""2. Redis restarted again and again (SIGTERM and SIGKILL in turn) while the hand-offs run:
consumption resumes within 30 s of each restart; nothing lost, no second order, no status
pushed twice.

Redis keeps nothing (no persistence): each restart loses every queued message, and the
ledger's sweep rings the due rows again. The restarts are spread over the run by progress
(status-log rows and finished ledger rows), Redis down a second each time. Consumption has
resumed when a ledger row rung after Redis came back (so through the new Redis) is finished:
a task that was running when Redis went cannot count. Time to recover: the worst, over the
restarts, from Redis answering again to that first finished row.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from chaos import measure
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.db.models import Job
from worker.domain.enums import JobState

NAME = "Redis restarted"
RESUME_WITHIN_S = 30.0
DOWN_S = 1.0
# progress marks (status-log rows + finished ledger rows) per hand-off, roughly: the
# restarts are spread over the first ~60 % of the run's work
MARKS_PER_HANDOFF = 8


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, restarts = int(size["handoffs"]), int(size["restarts"])
    with world_factory(workers=1) as world:
        world.start()
        db = world.db()
        codes = world.seed(n)
        step = MARKS_PER_HANDOFF * n // (restarts + 1)
        start_mark = measure.progress_mark(db)
        resumed: list[float | None] = []
        for i in range(restarts):
            if measure.time_until(partial(_past, db, start_mark + step * (i + 1)), 300) is None:
                break
            sig = signal.SIGTERM if i % 2 == 0 else signal.SIGKILL
            world.redis.restart(sig, down_s=DOWN_S)
            back = datetime.now(UTC)
            resumed.append(measure.time_until(partial(_consumed_since, db, back), 120))
            exited = world.exited()
            if exited:  # nobody restarts it: the rest of the run would only wait
                break
        exited = world.exited()
        stuck = ""
        try:  # a dead worker leaves the work undone: counted as lost below, not waited for
            world.wait_all_final(codes, timeout=60 if exited else max(180, n * 0.6))
            world.wait_drained(60)
        except AssertionError as exc:
            stuck = str(exc)[:300]
        done = [r for r in resumed if r is not None]
        worst = None if len(done) < len(resumed) else max(done, default=None)
        shown = ", ".join("none" if r is None else f"{r:.1f}" for r in resumed)
        row = world.verdict(NAME, codes, worst, notes=(
            f"{len(resumed)} restarts (SIGTERM and SIGKILL in turn, {DOWN_S:.0f} s down); "
            f"consumption resumed after [{shown}] s"))
        failures = []
        if len(resumed) < restarts and not exited:
            failures.append(f"only {len(resumed)} of {restarts} restarts happened before the "
                            "work ran out")
        slow = [r for r in resumed if r is None or r > RESUME_WITHIN_S]
        if slow:
            failures.append(f"{len(slow)} restarts not followed by consumption within "
                            f"{RESUME_WITHIN_S:.0f} s")
        if exited:
            failures.append(f"processes exited during the restarts (exit codes): {exited}; "
                            "see their logs (worker: 'Unrecoverable error')")
        if stuck:
            failures.append(f"the work did not complete: {stuck}")
        return row.fail(failures)


def _past(db: Database, mark: int) -> bool:
    return measure.progress_mark(db) >= mark


def _consumed_since(db: Database, back: datetime) -> bool:
    """A ledger row rung after `back` (through the new Redis) has been done since."""
    with db.unit_of_work() as s:
        return bool(s.scalar(select(func.count()).select_from(Job).where(
            Job.state == JobState.DONE, Job.rung_at >= back, Job.done_at >= Job.rung_at)))


SCENARIO = Scenario(number=2, name=NAME, full={"handoffs": 2000, "restarts": 10},
                    short={"handoffs": 150, "restarts": 3}, run=run)
