"""A fake bell for tests: passed to Runtime(...), never patched in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.ports.bell import Bell


@dataclass
class ListBell(Bell):
    """A bell that remembers what it was asked to ring, in order (no broker)."""

    rung: list[int] = field(default_factory=list)

    def ring(self, job_ids: Sequence[int]) -> int:
        self.rung += list(job_ids)
        return len(job_ids)

    def take(self) -> list[int]:
        """What was rung since the last take (what a worker would now run)."""
        taken, self.rung = self.rung, []
        return taken

