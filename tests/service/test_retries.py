"""Retries of a post: the wait the other side asks for (Retry-After) is honoured; the last
failed attempt (three here) leaves a dead row and a hand-off that needs a person, with the
reason recorded and told to the one-stop; a refusal is dead at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.service.world import World
from worker.db.models import utcnow
from worker.domain.errors import PermanentError, TransientError
from worker.service.ledger import EXHAUSTED_PREFIX


@pytest.mark.parametrize("retry_after", [600.0, 7200.0])  # the second beyond the backoff cap
def test_a_retry_waits_at_least_as_long_as_retry_after_asks(world: World,
                                                            retry_after: float) -> None:
    code, hid = world.requested()
    world.carrier.faults.fail_next("post", TransientError("HTTP 429",
                                                          retry_after=retry_after))
    before = utcnow()
    world.work()
    post = world.job("post_order", hid)
    assert post.state == "pending" and post.attempts == 1 and post.last_error == "HTTP 429"
    assert post.next_attempt_at >= before + timedelta(seconds=retry_after)

    world.later(retry_after - 10)  # nearly there: the sweep does not ring it
    assert world.carrier.posted_numbers() == [f"{code}/R1"]
    world.later(20)
    assert world.carrier.posted_numbers() == [f"{code}/R1"] * 2
    assert world.handoff(hid).status == "accepted"
    assert world.attempts(post.id) == [(1, "transient"), (2, "ok")]


def test_a_post_failing_every_attempt_is_dead_and_the_handoff_needs_a_person(
        world: World) -> None:
    code, hid = world.requested()
    world.carrier.faults.fail_next("post", TransientError("HTTP 503"), times=3)
    world.work()
    world.later(3600)
    assert world.job("post_order", hid).state == "pending"  # two tries, one left
    world.later(3600)

    post = world.job("post_order", hid)
    assert post.state == "dead" and post.attempts == 3
    assert post.last_error.startswith(f"{EXHAUSTED_PREFIX} 3 lần thử")
    assert "HTTP 503" in post.last_error
    assert world.attempts(post.id) == [(1, "transient"), (2, "transient"), (3, "exhausted")]
    h = world.handoff(hid)
    assert h.status == "needs_attention" and h.status_reason == post.last_error
    (told,) = world.onestop.pushes  # the one-stop hears why
    assert (told.dossier_code, told.status, told.note) == (code, "needs_attention",
                                                           post.last_error)
    world.later(3600 * 24)  # dead stays dead: nothing rings it again
    assert len(world.carrier.calls) == 3


def test_a_refused_post_is_dead_at_once_with_the_carriers_reason(world: World) -> None:
    code, hid = world.requested()
    world.carrier.faults.fail_next("post", PermanentError(
        "Bưu điện từ chối đơn: mã phường không hợp lệ", code="102"))
    world.work()
    post = world.job("post_order", hid)
    assert post.state == "dead" and post.attempts == 1
    assert post.last_error == "Bưu điện từ chối đơn: mã phường không hợp lệ"
    assert world.attempts(post.id) == [(1, "permanent")]
    h = world.handoff(hid)
    assert h.status == "needs_attention" and h.status_reason == post.last_error
    assert world.onestop.statuses(code) == ["needs_attention"]
    assert world.carrier.created() == 0
