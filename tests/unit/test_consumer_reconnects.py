"""The worker's consumer tries a lost broker again at most every 5 s (kombu's steps grow to
30 s: a broker back after a long outage was found up to 30 s late)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kombu import Connection

from worker.launch.consumer import RECONNECT_MAX, Consumer


def test_the_consumer_reconnects_with_short_steps() -> None:
    conn = Connection("redis://127.0.0.1:1//")
    asked: list[dict[str, Any]] = []
    conn._ensure_connection = lambda *a, **kw: asked.append(kw)  # type: ignore[method-assign]
    consumer = Consumer.__new__(Consumer)  # what Celery's ensure_connected reads of it
    consumer.app = SimpleNamespace(conf=SimpleNamespace(  # type: ignore[assignment]
        broker_connection_retry_on_startup=True, broker_connection_retry=True,
        broker_connection_max_retries=None))
    consumer.first_connection_attempt = False
    consumer.broker_connection_retry_attempt = 0
    for _ in range(3):  # each reconnect of the worker's life
        assert consumer.ensure_connected(conn) is conn
    assert len(asked) == 3
    for kw in asked:
        assert kw["interval_max"] == RECONNECT_MAX <= 5
        assert kw["interval_start"] <= 1 and kw["interval_step"] <= 1
