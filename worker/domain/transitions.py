"""The state machine: decides whether an event moves a hand-off, and why not when it doesn't."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from worker.domain.statuses import FINAL, RANK, REPEATABLE, Status


@dataclass(frozen=True)
class Decision:
    applied: bool
    reason: str  # why it was applied or ignored, for the delivery-status log


def decide(current: Status, new: Status | None, *, known_code: bool = True) -> Decision:
    """Forward only. Final states never move. Unknown codes move nothing."""
    if new is None:
        return Decision(False, "unknown carrier code" if not known_code else "informational code")
    if current in FINAL:
        return Decision(False, f"already final ({current})")
    if new == current:
        if new in REPEATABLE:
            return Decision(True, "another attempt")
        return Decision(False, "same status again")
    if RANK[new] > RANK[current]:
        return Decision(True, "forward")
    if RANK[new] == RANK[current] and new not in FINAL:
        # out_for_delivery <-> delivery_failed: another round of delivery
        return Decision(True, "new delivery round")
    return Decision(False, f"late event ({new} after {current})")


class CancelBlock(StrEnum):
    """Why a cancel is refused before asking anyone."""

    PICKED_UP = "picked_up"  # the courier has the item: only the carrier could stop it now
    FINAL = "final"  # delivered, returned or cancelled already


@dataclass(frozen=True)
class CancelDecision(Decision):
    blocked: CancelBlock | None = None


def can_cancel(current: Status) -> CancelDecision:
    """A hand-off can be cancelled until the courier has taken the item."""
    if current in FINAL:
        return CancelDecision(False, f"already final ({current})", CancelBlock.FINAL)
    if RANK[current] >= RANK[Status.PICKED_UP]:
        return CancelDecision(False, "courier already took the item", CancelBlock.PICKED_UP)
    return CancelDecision(True, "not yet picked up")
