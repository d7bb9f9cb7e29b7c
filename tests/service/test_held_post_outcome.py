"""A post held here (its agency disabled) never sent anything, so its try is recorded as
`held`, never as the carrier's refusal. A withdrawal after a hold is cancelled locally only
when no try may have reached the carrier; after a try that may have created the order (a
timeout once the carrier had it), the carrier is asked to cancel."""

from __future__ import annotations

from tests.onestop_items import changed, numbered
from tests.service.world import World
from worker.domain.enums import AttemptOutcome
from worker.domain.errors import PermanentError, TransientError
from worker.service import ledger
from worker.service.admin import agency_admin
from worker.service.jobs import must_wait
from worker.service.ledger import uow

AGENCY = numbered(1)["agency"]["code"]


def _withdrawal(n: int, item_id: str) -> dict:
    """The one-stop's item withdrawing the n-th test dossier from the post."""
    return changed(numbered(n), id=item_id, type="handoff_cancelled", citizen=...)


def _disable(world: World) -> None:
    with uow.begin(world.rt) as s:
        agency_admin.set_enabled(s, AGENCY, False, "ops")


def test_a_hold_after_a_try_that_may_have_created_the_order_asks_the_carrier(
        world: World) -> None:
    code, hid = world.requested()
    # try 1: the carrier creates the order, then its reply is lost (a timeout)
    world.carrier.faults.fail_next("post", TransientError("hết thời gian chờ"), lose_reply=True)
    world.work()
    order = world.handoff(hid).order_number
    assert order is not None and world.carrier.created() == 1
    _disable(world)
    world.later(3600)  # try 2 comes due: held, nothing sent
    post = world.job("post_order", hid)
    assert post.state == "dead"
    assert world.attempts(post.id) == [(1, AttemptOutcome.TRANSIENT), (2, AttemptOutcome.HELD)]
    assert world.carrier.posted_numbers() == [order]
    assert world.handoff(hid).status == "needs_attention"

    got = world.ingest(_withdrawal(1, "hof_w1"))
    assert got.outcome == "cancelled"
    (cancel,) = world.jobs("cancel_order", hid)  # the carrier is asked, not a local cancel
    assert cancel.state == "pending" and world.handoff(hid).status != "cancelled"
    world.work()
    assert world.carrier.calls[-1] == ("cancel", order) and world.carrier.orders[order].cancelled
    assert world.handoff(hid).status == "cancelled"
    assert world.onestop.statuses(code)[-1] == "cancelled"


def test_a_post_only_ever_held_is_cancelled_here(world: World) -> None:
    _, hid = world.requested()
    _disable(world)  # before any worker ran the post
    world.work()
    post = world.job("post_order", hid)
    assert world.attempts(post.id) == [(1, AttemptOutcome.HELD)]

    assert world.ingest(_withdrawal(1, "hof_w1")).outcome == "cancelled"
    assert world.jobs("cancel_order", hid) == []  # the carrier never had it
    assert world.handoff(hid).status == "cancelled"
    world.work()
    assert world.carrier.calls == []


def test_a_carrier_refusal_before_a_hold_still_means_no_order(world: World) -> None:
    _, hid = world.requested()
    world.carrier.faults.fail_next("post", PermanentError("địa chỉ người nhận không hợp lệ"))
    world.work()
    post = world.job("post_order", hid)
    assert world.attempts(post.id) == [(1, AttemptOutcome.PERMANENT)]
    _disable(world)
    with uow.begin(world.rt) as s:  # replayed by ops while the agency is disabled: held
        ledger.revive(s, post.idempotency_key)
    world.work()
    assert world.attempts(post.id) == [(1, AttemptOutcome.PERMANENT), (1, AttemptOutcome.HELD)]

    assert world.ingest(_withdrawal(1, "hof_w1")).outcome == "cancelled"
    assert world.jobs("cancel_order", hid) == []  # the carrier's own refusal stands
    assert world.handoff(hid).status == "cancelled"
    assert world.carrier.calls == [("post", world.handoff(hid).order_number)]


def test_a_try_lost_on_the_wire_before_a_hold_asks_the_carrier(world: World) -> None:
    _, hid = world.requested()
    post = world.job("post_order", hid)
    with uow.begin(world.rt) as s:  # a worker takes try 1, then dies on the wire: no row
        assert ledger.claim(s, post.id, world.rt.settings.lease_seconds,
                            waits=must_wait) is not None
    _disable(world)
    world.later(world.rt.settings.lease_seconds + 60)  # the lease runs out: try 2 is held
    assert world.attempts(post.id) == [(2, AttemptOutcome.HELD)]

    assert world.ingest(_withdrawal(1, "hof_w1")).outcome == "cancelled"
    assert len(world.jobs("cancel_order", hid)) == 1  # try 1 may have created the order
    assert world.handoff(hid).status != "cancelled"
