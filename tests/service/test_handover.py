"""Hand-over records: made for the hand-offs the courier is to take, the same record when
printed again, closed by the carrier's pick-up or at the desk, named in each hand-off's
timeline, and late when the carrier never reports taking them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.service.world import World
from worker.db.models import Handoff, HandoverRecord, SlaBreach, StatusLogEntry
from worker.domain.errors import InvalidInput
from worker.domain.statuses import Status
from worker.service.flow import desk, handover
from worker.service.flow.sla import MarkResult, limits_of, scan
from worker.service.ledger import uow
from worker.service.views import handover_views

AGENCY, OTHER = "000.00.17.H19", "000.00.01.H19"
READY = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam: numbers say 20261126


def _handoff(world: World, n: int, status: str = "accepted", agency: str = AGENCY,
             direction: str = "result_delivery") -> str:
    code = f"{agency}-261126-{n:04d}"
    with uow.begin(world.rt) as s:
        s.add(Handoff(dossier_code=code, direction=direction, source_item_id=f"i{n}",
                      agency_code=agency, status=status, cod_amount=15000 * n,
                      order_number=f"{code}/{'R' if direction == 'result_delivery' else 'P'}1",
                      ready_at=READY, accepted_at=READY, citizen_name="Trần Văn Bình",
                      citizen_phone="0912 345 678"))
    return code


def _make(world: World, codes: list[str] | None = None, *, agency: str | None = AGENCY,
          direction: str = "result_delivery", at: datetime = READY) -> handover.Made:
    with uow.begin(world.rt) as s:
        return handover.make_record(s, agency_code=agency, direction=direction, codes=codes,
                                    actor="canbo1", now=at)


def _record(world: World, number: str) -> HandoverRecord:
    with world.rt.db.unit_of_work() as s:
        r = s.scalar(select(HandoverRecord).where(HandoverRecord.number == number))
        assert r is not None
        s.expunge(r)
        return r


def _reasons(world: World, code: str) -> list[tuple[str, str]]:
    with world.rt.db.unit_of_work() as s:
        return [(c or "", (p or {}).get("number", "")) for c, p in s.execute(
            select(StatusLogEntry.reason_code, StatusLogEntry.reason_params).where(
                StatusLogEntry.dossier_code == code).order_by(StatusLogEntry.id))]


def test_a_record_takes_the_called_hand_offs_and_is_the_same_when_printed_again(
        world: World) -> None:
    a, b = _handoff(world, 1), _handoff(world, 2, "pickup_failed")
    _handoff(world, 3, "requested")  # no order at the carrier: nobody is coming yet
    _handoff(world, 4, "picked_up")  # taken already
    _handoff(world, 5, agency=OTHER)
    made = _make(world)
    assert made == handover.Made(f"BB-{AGENCY}-20261126-001", True)
    assert _make(world, [b, a]) == handover.Made(made.number, False)  # same set, any order
    assert _reasons(world, a) == [("handover_recorded", made.number)]  # in its timeline


def test_a_record_for_another_set_replaces_the_open_one(world: World) -> None:
    a, b = _handoff(world, 1), _handoff(world, 2)
    first = _make(world)
    second = _make(world, [a])
    assert second == handover.Made(f"BB-{AGENCY}-20261126-002", True)
    assert _record(world, first.number).closed_how == "replaced"
    assert _reasons(world, b) == [("handover_recorded", first.number),
                                  ("handover_replaced", first.number)]
    assert _make(world, [a]) == handover.Made(second.number, False)
    with uow.begin(world.rt) as s, pytest.raises(InvalidInput, match=f"thay bằng biên bản "
                                                                      f"{second.number}"):
        handover.close_by_desk(s, first.number, "canbo2")  # signing it would confirm nothing


def test_the_carriers_pick_up_closes_the_record_once_every_hand_off_is_taken(
        world: World) -> None:
    a, b = _handoff(world, 1), _handoff(world, 2)
    made = _make(world)
    world.carrier_event(f"{a}/R1", 1, Status.PICKED_UP, READY + timedelta(hours=1))
    assert _record(world, made.number).closed_at is None
    world.carrier_event(f"{b}/R1", 2, Status.PICKED_UP, READY + timedelta(hours=2))
    closed = _record(world, made.number)
    assert (closed.closed_how, closed.closed_by) == ("carrier", "bưu điện")
    assert closed.closed_at == READY + timedelta(hours=2)  # the event's time, not the clock's
    assert ("handover_taken", made.number) in _reasons(world, b)
    with world.rt.db.unit_of_work() as s:  # told by the carrier's feed, not the desk
        assert s.scalar(select(StatusLogEntry.source).where(
            StatusLogEntry.reason_code == "handover_taken",
            StatusLogEntry.dossier_code == b)) == "feed"
    with pytest.raises(InvalidInput, match="không có hồ sơ nào chờ bàn giao"):
        _make(world)


def test_handed_over_at_the_desk_closes_the_record_and_its_hand_offs(world: World) -> None:
    a = _handoff(world, 1)
    made = _make(world)
    with uow.begin(world.rt) as s, pytest.raises(InvalidInput, match="không có biên bản"):
        handover.close_by_desk(s, made.number, "canbo2", agency_code=OTHER)  # not theirs
    with uow.begin(world.rt) as s:
        handover.close_by_desk(s, made.number, "canbo2", agency_code=AGENCY)
    closed = _record(world, made.number)
    assert (closed.closed_how, closed.closed_by) == ("desk", "canbo2")
    assert _reasons(world, a)[-1] == ("handover_confirmed", made.number)
    with pytest.raises(InvalidInput, match="không có hồ sơ nào chờ bàn giao"):
        _make(world)  # handed over: on no new record


def test_a_code_that_waits_for_no_record_is_refused_by_name(world: World) -> None:
    a, taken = _handoff(world, 1), _handoff(world, 2, "in_transit")
    with pytest.raises(InvalidInput, match=f"codes: hồ sơ {taken} không chờ bàn giao") as no:
        _make(world, [a, taken])
    assert (no.value.field, no.value.code) == ("codes", "not_waiting")  # data, not prose
    assert no.value.reason.startswith(f"hồ sơ {taken} không chờ bàn giao")  # the clerk's
    with pytest.raises(InvalidInput, match=f"codes: hồ sơ {a} không chờ"):
        _make(world, [a], agency=OTHER)


def test_a_collection_record_closes_when_the_dossiers_reach_the_desk(world: World) -> None:
    code = _handoff(world, 1, "out_for_delivery", direction="pickup")
    _handoff(world, 2, direction="pickup")  # the courier has not collected it yet
    made = _make(world, direction="pickup")
    assert _make(world, [code], direction="pickup").number == made.number
    world.carrier_event(f"{code}/P1", 5, Status.DELIVERED, READY + timedelta(hours=2))
    assert _record(world, made.number).closed_how == "carrier"


def _late(world: World, at: datetime) -> list[tuple[str, str, bool]]:
    with uow.begin(world.rt) as s:
        scan(s, at, limits_of(world.rt.settings), MarkResult())
    with world.rt.db.unit_of_work() as s:
        return [(c, d, cleared is not None) for c, d, cleared in s.execute(
            select(Handoff.dossier_code, SlaBreach.detail, SlaBreach.cleared_at).join(
                Handoff, Handoff.id == SlaBreach.handoff_id).where(
                SlaBreach.rule == "handover_not_taken"))]


def test_a_record_the_carrier_never_took_is_late_after_eight_hours(world: World) -> None:
    a, b = _handoff(world, 1), _handoff(world, 2)
    made = _make(world)
    assert _late(world, READY + timedelta(hours=7)) == []
    with uow.begin(world.rt) as s:  # handed over at the desk: still late if never taken
        handover.close_by_desk(s, made.number, "canbo2")
    world.carrier_event(f"{a}/R1", 1, Status.PICKED_UP, READY + timedelta(hours=8))
    late = _late(world, READY + timedelta(hours=9))
    assert [(c, cleared) for c, _, cleared in late] == [(b, False)]
    assert f"Biên bản bàn giao {made.number} lập lúc" in late[0][1]
    world.carrier_event(f"{b}/R1", 2, Status.PICKED_UP, READY + timedelta(hours=10))
    assert [cleared for *_, cleared in _late(world, READY + timedelta(hours=11))] == [True]


def test_a_cancelled_hand_off_leaves_its_record_and_is_never_confirmed(world: World) -> None:
    a, b = _handoff(world, 1), _handoff(world, 2)
    made = _make(world)
    got = desk.cancel(world.rt, a, actor="canbo1", agency_code=AGENCY)  # no order posted yet
    assert got.outcome == "cancelled", got
    assert _reasons(world, a)[-1] == ("handover_dropped", made.number)
    assert _record(world, made.number).closed_at is None  # b still waits for the courier
    with uow.begin(world.rt) as s:
        handover.close_by_desk(s, made.number, "canbo2", agency_code=AGENCY)
    assert "handover_confirmed" not in [c for c, _ in _reasons(world, a)]
    assert _reasons(world, b)[-1] == ("handover_confirmed", made.number)


def test_a_record_whose_every_hand_off_was_cancelled_closes_as_cancelled(world: World) -> None:
    a = _handoff(world, 1)
    made = _make(world)
    desk.cancel(world.rt, a, actor="canbo1", agency_code=AGENCY)
    closed = _record(world, made.number)
    assert (closed.closed_how, closed.closed_by) == ("cancelled", "desk")
    with uow.read(world.rt) as s:
        assert handover_views.open_records(s, AGENCY) == []  # not listed for reprint
