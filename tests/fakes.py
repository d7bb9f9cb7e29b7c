"""A fake bell for tests: passed to Runtime(...), never patched in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.ports.bell import Bell
from worker.service.jobs.runner import run_job
from worker.service.runtime import Runtime


@dataclass
class ListBell(Bell):
    """A bell that remembers what it was asked to ring, in order (no broker)."""

    rung: list[int] = field(default_factory=list)
    rung_first: list[int] = field(default_factory=list)  # of those, rung `first`

    def ring(self, job_ids: Sequence[int], *, first: bool = False) -> int:
        self.rung += list(job_ids)
        if first:
            self.rung_first += list(job_ids)
        return len(job_ids)

    def take(self) -> list[int]:
        """What was rung since the last take (what a worker would now run)."""
        taken, self.rung = self.rung, []
        return taken



def run_rung(rt: Runtime, bell: ListBell, rounds: int = 100) -> None:
    """What a worker does: run every job rung, and whatever those ring in turn, until the
    bell is quiet."""
    for _ in range(rounds):
        rung = bell.take()
        if not rung:
            return
        for job_id in rung:
            run_job(rt, job_id)
    raise AssertionError("the bell never went quiet")
