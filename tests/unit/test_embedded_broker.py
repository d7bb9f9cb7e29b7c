"""The embedded broker: a queue another process created between kombu's look and its insert
is taken as found, never an error that stops a consumer."""

from __future__ import annotations

from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy.orm import Query

from worker.embedded_broker import url_for


def test_a_queue_created_by_another_process_meanwhile_is_taken(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    with Connection(url_for(str(tmp_path / "broker.db"))) as conn:
        channel = conn.channel()
        made = channel._get_or_create("handoff")  # as the other process did
        real_first = Query.first
        misses = [None, None]  # kombu's two looks, both before the other process's insert

        def first(query: Query) -> object:
            return misses.pop() if misses else real_first(query)

        monkeypatch.setattr(Query, "first", first)
        taken = channel._get_or_create("handoff")  # its insert loses on the unique name
        assert taken.id == made.id and not misses
