"""10. Four workers and two beats on PostgreSQL: every ledger row done exactly once.

Two beats ring every periodic task twice and four workers race for every ring, so each
row is claimed by whoever wins the conditional UPDATE. Counted after the run:
- ledger rows finished by more than one successful attempt (the effect happened twice),
  and rows not finished (pending or dead);
- the carrier's orders and the one-stop's records (the verdict's duplicate columns);
- takes of a lease or claims of a ledger row while another holder's lease was still live,
  witnessed by triggers in PostgreSQL with the server's clock (chaos/audit.py).
Time to recover: not applicable (no fault is ended).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from chaos import audit
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.db.models import Attempt, Job
from worker.domain.enums import AttemptOutcome, JobState

NAME = "Four workers and two beats"


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, workers, beats = int(size["handoffs"]), int(size["workers"]), int(size["beats"])
    with world_factory(workers=workers, beats=beats) as world:
        world.start()
        db = world.db()
        audit.install(db)
        codes: list[str] = []
        for _ in range(4):  # in waves, so rings and claims race all through the run
            codes += world.seed(n // 4)
        codes += world.seed(n - len(codes))
        world.wait_all_final(codes, timeout=max(180, n * 0.6))
        world.wait_drained(90)
        row = world.verdict(NAME, codes, None)
        twice, unfinished, done, by_kind = ledger_once(db)
        stolen = audit.steals(db)
        seen = audit.lease_counts(db)
        row.notes = "; ".join(p for p in (
            f"{workers} workers, {beats} beats; {done} ledger rows done ({by_kind})",
            f"witnessed: {seen}", row.notes) if p)
        failures = []
        if twice:
            failures.append(f"{len(twice)} ledger rows done by more than one successful "
                            f"attempt (job id: attempts) {dict(list(twice.items())[:5])}")
        if unfinished:
            failures.append(f"{sum(unfinished.values())} ledger rows not done {unfinished}")
        if stolen:
            failures.append(f"{len(stolen)} takes while another holder's lease was live, "
                            f"e.g. {'; '.join(str(s) for s in stolen[:3])}")
        if not seen.get("job claims"):
            failures.append("the audit saw no ledger claim: nothing was checked")
        return row.fail(failures)


def ledger_once(db: Database) -> tuple[dict[int, int], dict[str, int], int, dict[str, int]]:
    """(rows with >1 successful attempt -> how many, unfinished rows by state, rows done,
    rows done by kind)."""
    with db.unit_of_work() as s:
        twice = dict(s.execute(
            select(Attempt.job_id, func.count()).where(Attempt.outcome == AttemptOutcome.OK)
            .group_by(Attempt.job_id).having(func.count() > 1)).all())
        states = dict(s.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        kinds = dict(s.execute(select(Job.kind, func.count()).where(Job.state == JobState.DONE)
                               .group_by(Job.kind)).all())
    done = int(states.pop("done", 0))
    return ({int(k): int(v) for k, v in twice.items()},
            {str(k): int(v) for k, v in states.items()}, done,
            {str(k): int(v) for k, v in kinds.items()})


SCENARIO = Scenario(number=10, name=NAME,
                    full={"handoffs": 1000, "workers": 4, "beats": 2},
                    short={"handoffs": 150, "workers": 4, "beats": 2}, run=run)
