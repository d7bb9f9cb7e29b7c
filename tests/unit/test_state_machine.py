"""The normalized state machine: forward only, final states hold, unknown codes move nothing."""

import pytest

from worker.domain.reason_codes import ReasonCode
from worker.domain.statuses import FINAL, RANK, Status
from worker.domain.transitions import can_cancel, decide


def test_forward_moves_are_applied():
    assert decide(Status.ACCEPTED, Status.PICKED_UP).applied
    assert decide(Status.ACCEPTED, Status.PICKED_UP).reason.code is ReasonCode.FORWARD
    assert decide(Status.PICKED_UP, Status.DELIVERED).applied
    assert decide(Status.REQUESTED, Status.IN_TRANSIT).applied  # events before the post reply


def test_late_event_is_ignored_with_a_reason():
    d = decide(Status.IN_TRANSIT, Status.PICKED_UP)
    assert not d.applied and d.reason.code is ReasonCode.LATE_EVENT
    assert dict(d.reason.params) == {"new": "picked_up", "current": "in_transit"}
    assert d.reason.en() == "late event (picked_up after in_transit)"


@pytest.mark.parametrize("final", sorted(FINAL))
@pytest.mark.parametrize("new", list(Status))
def test_final_states_never_move(final, new):
    d = decide(final, new)
    assert not d.applied and d.reason.code is ReasonCode.ALREADY_FINAL
    assert d.reason.en() == f"already final ({final})"


def test_unknown_code_moves_nothing():
    d = decide(Status.IN_TRANSIT, None, known_code=False)
    assert not d.applied and d.reason.code is ReasonCode.UNKNOWN_CODE
    assert d.reason.en() == "unknown carrier code"
    informational = decide(Status.IN_TRANSIT, None)
    assert not informational.applied and informational.reason.code is ReasonCode.INFORMATIONAL


def test_same_status_is_ignored_but_failed_attempts_repeat():
    assert decide(Status.IN_TRANSIT, Status.IN_TRANSIT).reason.code is ReasonCode.SAME_STATUS
    assert not decide(Status.IN_TRANSIT, Status.IN_TRANSIT).applied
    again = decide(Status.DELIVERY_FAILED, Status.DELIVERY_FAILED)
    assert again.applied and again.reason.code is ReasonCode.ANOTHER_ATTEMPT
    assert decide(Status.PICKUP_FAILED, Status.PICKUP_FAILED).applied


def test_failed_delivery_may_go_back_out_for_delivery():
    back_out = decide(Status.DELIVERY_FAILED, Status.OUT_FOR_DELIVERY)
    assert back_out.applied and back_out.reason.code is ReasonCode.NEW_DELIVERY_ROUND
    assert decide(Status.OUT_FOR_DELIVERY, Status.DELIVERY_FAILED).applied


def test_returning_then_returned():
    assert decide(Status.DELIVERY_FAILED, Status.RETURNING).applied
    assert decide(Status.RETURNING, Status.RETURNED).applied
    assert not decide(Status.RETURNING, Status.DELIVERY_FAILED).applied


def test_needs_attention_moves_on_with_real_carrier_progress():
    assert decide(Status.NEEDS_ATTENTION, Status.ACCEPTED).applied


def test_every_status_has_a_rank():
    assert set(RANK) == set(Status)


def test_cancel_allowed_only_before_the_courier_took_it():
    assert can_cancel(Status.REQUESTED).applied
    assert can_cancel(Status.REQUESTED).reason.code is ReasonCode.NOT_YET_PICKED_UP
    assert can_cancel(Status.ACCEPTED).applied
    assert can_cancel(Status.PICKUP_FAILED).applied
    assert not can_cancel(Status.PICKED_UP).applied
    assert can_cancel(Status.PICKED_UP).reason.code is ReasonCode.COURIER_TOOK_ITEM
    assert can_cancel(Status.IN_TRANSIT).reason.en() == "courier already took the item"
    final = can_cancel(Status.DELIVERED)
    assert not final.applied and final.reason.code is ReasonCode.ALREADY_FINAL
    assert dict(final.reason.params) == {"current": "delivered"}
