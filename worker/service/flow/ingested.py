"""What taking one one-stop item came to (created, duplicate, invalid, ignored, cancelled)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.db.models import Job
from worker.domain.enums import IngestOutcome


@dataclass
class Ingested:
    outcome: IngestOutcome
    handoff_id: int | None = None
    reason: str = ""
    jobs: list[Job] = field(default_factory=list)
    bad_field: str | None = None  # for invalid items: the wire field at fault, and why
    code: str | None = None

    def as_answer(self) -> dict[str, Any]:
        """What a sender is told (the webhook's 200 body)."""
        answer: dict[str, Any] = {"outcome": self.outcome, "reason": self.reason}
        if self.bad_field:
            answer["field"], answer["code"] = self.bad_field, self.code
        return answer
