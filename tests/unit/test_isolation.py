"""One entry that cannot be taken is quarantined in the log; the others go through."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from worker.db.engine import Database
from worker.db.models import Handoff, StatusLogEntry
from worker.service.flow.isolation import Described, take_each


def _handoff(code: str) -> Handoff:
    return Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                   status="requested", ready_at=datetime.now(UTC))


def test_a_poisoned_entry_is_quarantined_and_the_next_one_is_taken(sqlite_db: Database
                                                                   ) -> None:
    def take(code: str) -> list:
        with_session.add(_handoff(code))  # a lone surrogate cannot be encoded: flush fails
        return []

    def describe(code: str) -> Described:  # the description is poisoned too
        return Described(f"item {code}", "onestop-feed", dossier_code=code)

    with sqlite_db.unit_of_work() as with_session:
        take_each(with_session, ["000.00.17.H19-201126-\ud800", "000.00.17.H19-201126-0002"],
                  take, describe)
    with sqlite_db.unit_of_work() as s:
        assert list(s.scalars(select(Handoff.dossier_code))) == ["000.00.17.H19-201126-0002"]
        entry = s.scalars(select(StatusLogEntry)).one()
    assert entry.applied is False and entry.source == "onestop-feed"
    assert entry.dossier_code == "000.00.17.H19-201126-\ufffd"
    assert entry.notes.startswith("không xử lý được item 000.00.17.H19-201126-\ufffd")


def test_when_even_the_quarantine_row_fails_the_unit_of_work_still_commits(
        sqlite_db: Database) -> None:
    def describe(code: str) -> Described:
        raise RuntimeError("a bug in the description")

    def take(code: str) -> list:
        if code == "bad":
            raise ValueError("a bug while taking")
        s.add(_handoff(code))
        return []

    with sqlite_db.unit_of_work() as s:
        take_each(s, ["bad", "000.00.17.H19-201126-0003"], take, describe)
    with sqlite_db.unit_of_work() as s:
        assert list(s.scalars(select(Handoff.dossier_code))) == ["000.00.17.H19-201126-0003"]
