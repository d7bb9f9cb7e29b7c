"""The tracking event's hooks (the hand-over record, the fee) isolated: a hook that fails is
logged by hand-off id, its savepoint rolled back, and the carrier's event is still applied,
never quarantined."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from tests.service.test_cod import fee
from tests.service.test_handover import AGENCY, READY, _handoff, _make, _reasons
from tests.service.world import World
from tests.support.db_failures import deadlock
from worker.db.models import Handoff
from worker.domain.cod import CodEvent
from worker.domain.enums import EventSource
from worker.domain.model import TrackingEvent
from worker.domain.statuses import Status
from worker.service.flow import cod, handover
from worker.service.flow.isolation import Described, take_one
from worker.service.flow.tracking import apply_event
from worker.service.ledger import uow
from worker.service.views import handover_views


def _broken(*_: object) -> None:
    raise RuntimeError("Trần Văn Bình 0912 345 678")  # what a careless hook might carry


def test_a_failing_hook_neither_loses_nor_quarantines_the_event(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    code = _handoff(world, 1)
    made = _make(world, [code])
    monkeypatch.setattr(handover, "_leave", _broken)
    monkeypatch.setattr(cod, "_record", _broken)
    ev = TrackingEvent(event_id="ev1", order_number=f"{code}/R1", item_code="EB123456785VN",
                       occurred_at=READY + timedelta(hours=1), raw_code=1, raw_text="mã 1",
                       status=Status.PICKED_UP, known_code=True)
    with caplog.at_level(logging.ERROR), uow.begin(world.rt) as s:
        taken = take_one(s, ev, lambda e: [apply_event(s, e)],
                         lambda e: Described(f"event {e.event_id}", EventSource.CARRIER_FEED))
    assert taken is not None  # taken, not quarantined
    with caplog.at_level(logging.ERROR):
        fee(world, f"{code}/R1", CodEvent.COLLECTED, READY + timedelta(hours=2))
    with world.rt.db.unit_of_work() as s:
        h = s.scalar(select(Handoff).where(Handoff.dossier_code == code))
        assert h is not None and h.status == Status.PICKED_UP  # the event moved it
    reasons = [c for c, _ in _reasons(world, code)]
    assert "entry_not_taken" not in reasons and "handover_taken" not in reasons
    assert len(reasons) == 3  # recorded, the pick-up, the fee event: each in the log
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"hand-off {h.id}: not taken off its hand-over record (RuntimeError)" in errors
    assert f"hand-off {h.id}: COD event cod6-{code}/R1-11260300 not recorded (RuntimeError)" \
        in errors
    assert not any("Bình" in m or "0912" in m for m in caplog.messages)
    with uow.read(world.rt) as s:  # its record stays open, for the desk to close
        assert [r.number for r in handover_views.open_records(s, AGENCY)] == [made.number]


def _deadlock(*_: object) -> None:
    raise deadlock("UPDATE handover_records")


@pytest.mark.parametrize("hook", ["handover", "cod"])
def test_the_database_failing_in_a_hook_undoes_the_event_to_be_taken_again(
        world: World, monkeypatch: pytest.MonkeyPatch, hook: str) -> None:
    """A deadlock is no fault of the event: swallowed, the event would commit with its
    record left open or its fee missed for good. It is raised out of the entry's
    savepoint, so the feed gives the page up and reads it again whole."""
    code = _handoff(world, 1)
    _make(world, [code])
    monkeypatch.setattr(*((handover, "_leave") if hook == "handover" else (cod, "_record")),
                        _deadlock)
    code_of_event = 1 if hook == "handover" else 6  # a pick-up; a fee collected
    ev = TrackingEvent(event_id="ev1", order_number=f"{code}/R1", item_code="EB123456785VN",
                       occurred_at=READY + timedelta(hours=1), raw_code=code_of_event,
                       raw_text=f"mã {code_of_event}", known_code=True,
                       status=Status.PICKED_UP if hook == "handover" else None,
                       cod=None if hook == "handover" else CodEvent.COLLECTED)
    before = _reasons(world, code)
    with pytest.raises(OperationalError), uow.begin(world.rt) as s:
        take_one(s, ev, lambda e: [apply_event(s, e)],
                 lambda e: Described(f"event {e.event_id}", EventSource.CARRIER_FEED))
    with world.rt.db.unit_of_work() as s:
        h = s.scalar(select(Handoff).where(Handoff.dossier_code == code))
        assert h is not None and h.status != Status.PICKED_UP  # rolled back, to be re-read
    assert _reasons(world, code) == before  # neither logged nor quarantined
