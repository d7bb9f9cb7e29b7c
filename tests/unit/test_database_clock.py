"""The database clock's offset: kept only when the clocks really disagree, added to every
stamp, and applied to the absolute expiry of a Celery message a skewed sender writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from worker.db import clock
from worker.launch.celery_app import DatabaseClockRequest, _expiry_on_server_clock


@pytest.fixture(autouse=True)
def _agreeing_clocks() -> Iterator[None]:
    yield
    clock.set_offset(0.0)


def test_clocks_within_half_a_second_agree_and_nothing_moves() -> None:
    clock.set_offset(0.3)
    assert clock.offset() == 0.0
    assert abs((clock.utcnow() - datetime.now(UTC)).total_seconds()) < 0.1


def test_a_machine_five_minutes_ahead_stamps_five_minutes_earlier() -> None:
    clock.set_offset(-300.0)
    assert abs((datetime.now(UTC) - clock.utcnow()).total_seconds() - 300) < 0.1


def test_a_rings_expiry_written_by_a_skewed_sender_is_put_on_the_server_clock() -> None:
    clock.set_offset(-300.0)  # the sender (beat) is five minutes ahead
    written = datetime(2026, 12, 5, 10, 0, 2, tzinfo=UTC)
    headers = {"expires": written.isoformat()}
    _expiry_on_server_clock(headers=headers)
    assert datetime.fromisoformat(headers["expires"]) == written - timedelta(seconds=300)
    clock.set_offset(0.0)
    untouched = {"expires": written.isoformat()}
    _expiry_on_server_clock(headers=untouched)
    assert untouched == {"expires": written.isoformat()}


def test_an_offset_near_the_bound_does_not_flip_and_noise_moves_nothing() -> None:
    clock.set_offset(-0.6)
    assert clock.offset() == -0.6  # applied past half a second
    clock.set_offset(-0.45)
    assert clock.offset() == -0.45  # still applied: dropped only under a quarter second
    clock.set_offset(-0.5)
    assert clock.offset() == -0.45  # within a tenth of the one applied: noise
    clock.set_offset(-0.2)
    assert clock.offset() == 0.0


def test_a_worker_ahead_keeps_a_rings_expiry_on_the_server_clock() -> None:
    """The worker's side: this process plays a worker whose clock is five minutes ahead of
    the server's. A ring that expires 10 s from now by the server's clock (290 s ago by
    this process's) is not expired; one that expired by the server's clock is."""
    clock.set_offset(-300.0)
    server_now = datetime.now(UTC) - timedelta(seconds=300)
    assert not _request(server_now + timedelta(seconds=10)).maybe_expire()
    assert _request(server_now - timedelta(seconds=1)).maybe_expire()


def _request(expires: datetime) -> DatabaseClockRequest:
    from kombu.message import Message  # Celery's message, only for these two tests

    from worker.tasks import app  # the tasks, registered (imported for them)

    headers = {"id": "ring-1", "task": "handoff.sweep", "expires": expires.isoformat(),
               "retries": 0, "eta": None, "lang": "py", "argsrepr": "()", "kwargsrepr": "{}"}
    message = Message(body=([], {}, {"callbacks": None, "errbacks": None, "chain": None,
                                     "chord": None}),
                      headers=headers, content_type="application/json",
                      content_encoding="utf-8")
    return DatabaseClockRequest(message, app=app, task=app.tasks["handoff.sweep"],
                                decoded=True)
