"""Job kind push_status: tell the one-stop system a hand-off's status (in order, once)."""

from __future__ import annotations

from datetime import datetime

from worker.domain.errors import HandoffError
from worker.domain.model import StatusPush
from worker.domain.statuses import Direction, told_as
from worker.ports import Ports
from worker.service import ledger
from worker.service.jobs.base import Step, dead

REPLAY_WHEN_FINAL = True  # "delivered" must still reach the one-stop after the end


def prepare(step: Step, job: ledger.Claimed) -> StatusPush:
    p = job.payload
    return StatusPush(
        event_id=p["event_id"], dossier_code=p["dossier_code"],
        direction=Direction(p["direction"]), status=told_as(p["status"]),
        item_code=step.handoff.item_code or p.get("item_code"),
        carrier_code=p.get("carrier_code"), carrier_text=p.get("carrier_text") or "",
        occurred_at=datetime.fromisoformat(p["occurred_at"]), note=p.get("note") or "",
        late=bool(p.get("late")),
    )


def perform(ports: Ports, push: StatusPush) -> bool:
    return ports.onestop.push_status(push)


def settle(step: Step, job: ledger.Claimed, had_it_already: bool) -> None:
    """Nothing more to do: the one-stop has the status."""


def settle_failure(step: Step, job: ledger.Claimed, failure: HandoffError,
                   duration_ms: int | None) -> None:
    # a dead push flags the hand-off (SLA rule push_failed) until it is replayed
    dead(step, job, failure, duration_ms)
