"""The state machine: decides whether an event moves a hand-off, and why not when it doesn't."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from worker.domain.reason_codes import Reason, ReasonCode, reason
from worker.domain.statuses import FINAL, RANK, REPEATABLE, Status


@dataclass(frozen=True)
class Decision:
    applied: bool
    reason: Reason  # why it was applied or ignored, for the delivery-status log


def decide(current: Status, new: Status | None, *, known_code: bool = True) -> Decision:
    """Forward only. Final states never move. Unknown codes move nothing."""
    if new is None:
        return Decision(False, reason(ReasonCode.INFORMATIONAL if known_code
                                      else ReasonCode.UNKNOWN_CODE))
    if current in FINAL:
        return Decision(False, reason(ReasonCode.ALREADY_FINAL, current=current.value))
    if new == current:
        if new in REPEATABLE:
            return Decision(True, reason(ReasonCode.ANOTHER_ATTEMPT))
        return Decision(False, reason(ReasonCode.SAME_STATUS))
    if RANK[new] > RANK[current]:
        return Decision(True, reason(ReasonCode.FORWARD))
    if RANK[new] == RANK[current] and new not in FINAL:
        # out_for_delivery <-> delivery_failed: another round of delivery
        return Decision(True, reason(ReasonCode.NEW_DELIVERY_ROUND))
    return Decision(False, reason(ReasonCode.LATE_EVENT, new=new.value, current=current.value))


def told_late(new: Status | None, occurred_at: datetime,
              told: Iterable[tuple[Status, datetime]]) -> bool:
    """Whether a carrier milestone the state machine did not apply is still news for the
    one-stop system, told once with `late` (contract section 3): it happened no later than
    the newest status told, and its status was never told (a failed attempt is news each
    time: every one is an attempt of its own; the caller has already dropped a copy of the
    same milestone). A milestone dated after the newest told status is not late but in
    conflict with it (the carrier moving an order we cancelled): logged for ops, not told."""
    told = list(told)
    if new is None or new in (Status.REQUESTED, Status.NEEDS_ATTENTION) or not told:
        return False
    if occurred_at > max(at for _, at in told):
        return False
    return new in REPEATABLE or new not in {status for status, _ in told}


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
        return CancelDecision(False, reason(ReasonCode.ALREADY_FINAL, current=current.value),
                              CancelBlock.FINAL)
    if RANK[current] >= RANK[Status.PICKED_UP]:
        return CancelDecision(False, reason(ReasonCode.COURIER_TOOK_ITEM), CancelBlock.PICKED_UP)
    return CancelDecision(True, reason(ReasonCode.NOT_YET_PICKED_UP))
