"""SLA notifications are notify jobs of the ledger: retried with backoff, dead once their
attempts run out (kept for ops, never queued twice), and replayed to be sent once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.service.world import World
from worker.db.models import Handoff, SlaBreach
from worker.domain.errors import PermanentError, TransientError
from worker.service.admin.replay import dead_letters, replay
from worker.service.flow.sla import mark

READY = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
LATE = READY + timedelta(hours=2)  # not accepted within the hour


def _late_handoff(world: World) -> tuple[int, str]:
    """A hand-off never accepted, two hours after it was ready, marked by the SLA pass:
    (hand-off id, the notification's message id)."""
    with world.rt.db.unit_of_work() as s:
        h = Handoff(dossier_code="000.00.17.H19-261126-0040", direction="result_delivery",
                    source_item_id="hof_sla", status="requested", ready_at=READY,
                    order_number="000.00.17.H19-261126-0040/R1")
        s.add(h)
        s.flush()
        hid = h.id
    assert mark(world.rt, LATE).queued == 1
    return hid, f"sla_{hid}_not_accepted"


def _notified_at(world: World) -> list[datetime | None]:
    with world.rt.db.unit_of_work() as s:
        return list(s.scalars(select(SlaBreach.notified_at)))


def test_a_notification_is_retried_then_sent_once(world: World) -> None:
    hid, message = _late_handoff(world)
    world.notifier.faults.fail_next("notify", TransientError("HTTP 500"))
    world.work()
    job = world.job("notify", hid)
    assert (job.state, job.attempts, job.last_error) == ("pending", 1, "HTTP 500")
    assert _notified_at(world) == [None]

    world.later(3600)
    assert [m for m, _ in world.notifier.sent] == [message]
    (_, body) = world.notifier.sent[0]
    assert (body["rule"], body["handoff"]["dossierCode"]) == (
        "not_accepted", "000.00.17.H19-261126-0040")
    assert world.attempts(job.id) == [(1, "transient"), (2, "ok")]
    assert _notified_at(world) != [None]
    assert mark(world.rt, LATE + timedelta(hours=1)).queued == 0  # once per hand-off and rule
    world.later(3600)
    assert world.notifier.tries == 2


def test_a_notification_failing_every_attempt_is_dead_and_a_replay_sends_it_once(
        world: World) -> None:
    hid, message = _late_handoff(world)
    world.notifier.faults.fail_next("notify", TransientError("HTTP 500"), times=3)
    world.work()
    world.later(3600)
    world.later(3600)
    job = world.job("notify", hid)
    assert job.state == "dead"
    assert world.attempts(job.id) == [(1, "transient"), (2, "transient"), (3, "exhausted")]
    with world.rt.db.unit_of_work() as s:
        (letter,) = dead_letters(s)
    assert (letter.kind, letter.handoff_id, letter.attempts) == ("notify", hid, 3)
    assert "3 lần thử" in letter.reason and "HTTP 500" in letter.reason
    assert _notified_at(world) == [None]
    assert mark(world.rt, LATE + timedelta(hours=1)).queued == 0  # dead is not forgotten

    (outcome,) = replay(world.rt, [job.id], actor="ops")
    assert outcome.replayed, outcome.reason
    world.work()
    world.later(3600)
    assert [m for m, _ in world.notifier.sent] == [message]
    assert world.notifier.tries == 4
    assert _notified_at(world) != [None]
    assert world.handoff(hid).status == "requested"  # a notification moves no hand-off


def test_a_notification_refused_for_good_is_dead_at_once(world: World) -> None:
    hid, _ = _late_handoff(world)
    world.notifier.faults.fail_next("notify", PermanentError("HTTP 410: địa chỉ đã bị gỡ"))
    world.work()
    job = world.job("notify", hid)
    assert job.state == "dead" and world.attempts(job.id) == [(1, "permanent")]
    assert job.last_error == "HTTP 410: địa chỉ đã bị gỡ"
    assert world.notifier.sent == []
