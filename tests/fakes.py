"""Fakes of the core's ports for tests: passed to Runtime(...), never patched in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.domain.model import CarrierOrder, FeedPage, PostOutcome
from worker.ports.bell import Bell
from worker.ports.carrier import CarrierPort


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


@dataclass
class FakeCarrier(CarrierPort):
    """A carrier that answers each post from `answers` in turn (an exception is raised);
    accepted when it runs out. Remembers every order number posted."""

    answers: list[PostOutcome | Exception] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)

    def post_order(self, order: CarrierOrder) -> PostOutcome:
        self.posted.append(order.order_number)
        answer = self.answers.pop(0) if self.answers else PostOutcome(False, "OK")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def cancel_order(self, order_number: str) -> str:
        raise AssertionError("no cancel expected")

    def fetch_events(self, last_id: str | None, page_size: int = 1000) -> FeedPage:
        return FeedPage([], last_id or "")

    def close(self) -> None:
        pass
