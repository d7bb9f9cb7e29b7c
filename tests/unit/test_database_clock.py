"""The database clock's offset: kept only when the clocks really disagree, added to every
stamp, and applied to the absolute expiry of a Celery message a skewed sender writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from worker.db import clock
from worker.launch.celery_app import _expiry_on_server_clock


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
