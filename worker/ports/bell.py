"""The bell port: tells workers that ledger rows are ready to run (after their commit)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Bell(Protocol):
    """Rings for job ids (the production bell: one message per batch of rows); a lost ring
    is harmless (the sweep rings due rows again)."""

    def ring(self, job_ids: Sequence[int], *, first: bool = False) -> int:
        """Ring the jobs; returns how many of them were rung. Never raises. `first`: rows
        the workers take before the others (the carrier's: courier orders, cancels)."""
        ...
