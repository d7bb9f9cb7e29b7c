"""Fee reconciliation (COD) on fakes: the carrier's codes 6 and 8 recorded once per hand-off,
the report's rules (a remittance missing after N days, a delivery without collection, an
amount that differs, an unknown amount that does not), the month in Vietnam time, and the
SLA rule cod_not_remitted opened and cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.service.world import World
from worker.db.engine import Database
from worker.db.models import CodLedger, Handoff, SlaBreach
from worker.domain.cod import CodEvent, Problem
from worker.domain.errors import InvalidInput
from worker.domain.model import TrackingEvent
from worker.domain.sla_rules import Rule
from worker.domain.statuses import Status
from worker.service.flow import feeds, sla, tracking
from worker.service.ledger import uow
from worker.service.views.cod_report import report, table

NOW = datetime(2026, 12, 15, 3, 0, tzinfo=UTC)  # the report is read mid-December
FEE = 35_000


def fee(world: World, order: str, kind: CodEvent, at: datetime, amount: int | None = None,
        event_id: str | None = None) -> None:
    """A fee event of the feed (code 6 or 8), as the wire reads it."""
    code = 6 if kind == CodEvent.COLLECTED else 8
    ev = TrackingEvent(event_id=event_id or f"cod{code}-{order}-{at:%m%d%H%M}",
                       order_number=order, item_code=None, occurred_at=at, raw_code=code,
                       raw_text=f"mã {code}", status=None, known_code=True, cod=kind,
                       amount=amount)
    with uow.begin(world.rt) as s:
        tracking.apply_event(s, ev)


def delivered(world: World, n: int, at: datetime, cod_amount: int = FEE) -> tuple[str, int]:
    """A result delivery with a fee, picked up and delivered at `at`: (order, hand-off id)."""
    code, hid = world.requested(n, codAmount=cod_amount)
    world.work()
    order = f"{code}/R1"
    world.carrier_event(order, 1, Status.PICKED_UP, at - timedelta(hours=9))
    world.carrier_event(order, 5, Status.DELIVERED, at)
    world.work()
    return order, hid


def ledger_row(world: World, hid: int) -> CodLedger | None:
    with world.rt.db.unit_of_work() as s:
        row = s.get(CodLedger, hid)
        if row is not None:
            s.expunge(row)
        return row


def month(world: World, text: str = "2026-11", agency: str | None = None):  # noqa: ANN201
    with uow.read(world.rt) as s:
        return report(s, text, now=NOW, remit_days=world.rt.settings.cod_remit_days,
                      grace_days=world.rt.settings.cod_collect_grace_days, agency=agency)


def test_collection_and_remittance_are_recorded_once_and_told_to_no_one(world: World) -> None:
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    order, hid = delivered(world, 1, at)
    pushed = list(world.onestop.statuses(order.split("/")[0]))
    fee(world, order, CodEvent.COLLECTED, at + timedelta(minutes=2))
    fee(world, order, CodEvent.COLLECTED, at + timedelta(minutes=2))  # the same event again
    fee(world, order, CodEvent.COLLECTED, at + timedelta(days=1), event_id="other")  # a second
    fee(world, order, CodEvent.REMITTED, at + timedelta(days=2), amount=FEE)
    world.work()
    row = ledger_row(world, hid)
    assert row is not None
    assert row.collected_at == at + timedelta(minutes=2)
    assert row.collected_event == f"cod6-{order}-11200302" and row.collected_amount is None
    assert (row.remitted_at, row.remitted_amount) == (at + timedelta(days=2), FEE)
    assert "duplicate event" in " ".join(world.log_reasons(hid))
    # informational for the one-stop: no push beyond the statuses told before the fees
    assert world.onestop.statuses(order.split("/")[0]) == pushed == ["accepted", "picked_up",
                                                                      "delivered"]


def test_the_report_lists_exactly_the_hand_offs_that_differ_first(world: World) -> None:
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    fine, fine_id = delivered(world, 1, at)  # collected and remitted, amounts not reported
    fee(world, fine, CodEvent.COLLECTED, at + timedelta(minutes=2))
    fee(world, fine, CodEvent.REMITTED, at + timedelta(days=2))
    unpaid, unpaid_id = delivered(world, 2, at)  # collected 25 days before NOW, never paid
    fee(world, unpaid, CodEvent.COLLECTED, at + timedelta(minutes=2))
    _, uncollected_id = delivered(world, 3, at)  # delivered, no code 6
    wrong, wrong_id = delivered(world, 4, at)  # the carrier reports less than expected
    fee(world, wrong, CodEvent.COLLECTED, at + timedelta(minutes=2), amount=FEE - 5_000)
    fee(world, wrong, CodEvent.REMITTED, at + timedelta(days=2), amount=FEE - 5_000)
    recent, recent_id = delivered(world, 5, NOW - timedelta(days=3))  # not due yet; December
    fee(world, recent, CodEvent.COLLECTED, NOW - timedelta(days=3))
    delivered(world, 6, at, cod_amount=0)  # no fee, no fee event: not in the report

    rep = month(world)
    assert [(r.handoff_id, r.problems) for r in rep.rows] == [
        (wrong_id, (Problem.AMOUNT_MISMATCH,)),
        (unpaid_id, (Problem.NOT_REMITTED,)),
        (uncollected_id, (Problem.NOT_COLLECTED,)),
        (fine_id, ()),
    ]
    (agency,) = rep.totals
    assert (agency.handoffs, agency.expected, agency.collected_n, agency.remitted_n,
            agency.differing) == (4, 4 * FEE, 3, 2, 3)
    assert agency.collected == FEE + FEE + (FEE - 5_000)  # unreported amounts count as expected
    assert agency.remitted == FEE + (FEE - 5_000)
    lines = table(rep)
    assert len(lines) == 5 and lines[1][-1] == "Số tiền bưu điện báo khác số tiền thu hộ"
    assert [r.handoff_id for r in month(world, "2026-12").rows] == [recent_id]
    assert month(world, agency="000.00.99.H19").rows == []


def test_a_delivery_waits_its_grace_days_for_the_collection_before_it_differs(
        world: World) -> None:
    assert world.rt.settings.cod_collect_grace_days == 2
    _, yesterday = delivered(world, 1, NOW - timedelta(days=1))  # the courier's pace
    _, long_ago = delivered(world, 2, NOW - timedelta(days=3))
    assert [(r.handoff_id, r.problems) for r in month(world, "2026-12").rows] == [
        (long_ago, (Problem.NOT_COLLECTED,)), (yesterday, ())]


def test_a_remittance_without_an_amount_counts_what_was_collected(world: World) -> None:
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    short, _ = delivered(world, 1, at)
    fee(world, short, CodEvent.COLLECTED, at, amount=FEE - 5_000)  # reported short
    fee(world, short, CodEvent.REMITTED, at + timedelta(days=1))  # no amount: what it took
    (agency,) = month(world).totals
    assert (agency.collected, agency.remitted) == (FEE - 5_000, FEE - 5_000)


def test_the_month_is_the_collection_s_month_in_vietnam_time(world: World) -> None:
    # 16:59 UTC on 30 Nov is 23:59 in Vietnam (November); 17:00 UTC is 1 December there
    late_nov = datetime(2026, 11, 30, 16, 59, tzinfo=UTC)
    early_dec = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    a, a_id = delivered(world, 1, late_nov - timedelta(hours=1))
    b, b_id = delivered(world, 2, late_nov - timedelta(hours=1))
    fee(world, a, CodEvent.COLLECTED, late_nov)
    fee(world, b, CodEvent.COLLECTED, early_dec)
    assert [r.handoff_id for r in month(world, "2026-11").rows] == [a_id]
    assert [r.handoff_id for r in month(world, "2026-12").rows] == [b_id]


@pytest.mark.parametrize("bad", ["2026-13", "11/2026", "2026-1", "", "2026-11-01"])
def test_a_month_not_yyyy_mm_is_refused_naming_the_field(world: World, bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        month(world, bad)
    assert err.value.field == "month" and "YYYY-MM" in err.value.reason


def test_the_sla_rule_opens_after_n_days_and_clears_with_the_remittance(world: World) -> None:
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    order, hid = delivered(world, 1, at)
    fee(world, order, CodEvent.COLLECTED, at)
    days = world.rt.settings.cod_remit_days

    def open_rules() -> list[tuple[int, str]]:
        with world.rt.db.unit_of_work() as s:
            return [(b.handoff_id, b.rule) for b in s.scalars(
                select(SlaBreach).where(SlaBreach.cleared_at.is_(None)))]

    sla.mark(world.rt, at + timedelta(days=days - 1))
    assert open_rules() == []
    sla.mark(world.rt, at + timedelta(days=days + 1))
    assert open_rules() == [(hid, Rule.COD_NOT_REMITTED)]  # the hand-off is final: still on
    with uow.read(world.rt) as s:
        (row,) = sla.stuck(s)
    assert row.rule_label == "Bưu điện chưa trả tiền thu hộ" and "10 ngày" in row.detail
    sla.mark(world.rt, at + timedelta(days=days + 2))
    assert open_rules() == [(hid, Rule.COD_NOT_REMITTED)]  # a second pass keeps it
    fee(world, order, CodEvent.REMITTED, at + timedelta(days=days + 2))
    sla.mark(world.rt, at + timedelta(days=days + 3))
    assert open_rules() == []


def test_the_month_window_and_the_fee_table_read_alike_on_both_databases(
        database: Database) -> None:
    # migration 0013 and the report's query on SQLite and PostgreSQL: a collection at 23:59
    # and one at 00:00 Vietnam time fall on either side of the month's end
    moments = {"DS-NOV": datetime(2026, 11, 30, 16, 59, tzinfo=UTC),
               "DS-DEC": datetime(2026, 11, 30, 17, 0, tzinfo=UTC)}
    with database.unit_of_work() as s:
        for n, (code, at) in enumerate(moments.items(), 1):
            h = Handoff(dossier_code=code, direction="result_delivery", source_item_id=f"i{n}",
                        agency_code="A", order_number=f"{code}/R1", cod_amount=FEE,
                        status="delivered", ready_at=at - timedelta(days=2), final_at=at)
            s.add(h)
            s.flush()
            s.add(CodLedger(handoff_id=h.id, collected_at=at, collected_event=f"e{n}",
                            collected_amount=FEE + n))
    with database.unit_of_work() as s:
        nov = report(s, "2026-11", now=NOW, remit_days=10)
        dec = report(s, "2026-12", now=NOW, remit_days=10)
    assert [(r.dossier_code, r.problems) for r in nov.rows] == [
        ("DS-NOV", (Problem.AMOUNT_MISMATCH, Problem.NOT_REMITTED))]
    assert [(r.dossier_code, r.collected_amount) for r in dec.rows] == [("DS-DEC", FEE + 2)]


@pytest.mark.parametrize("collected_before", [False, True],
                         ids=["collected-in-the-chunk", "collected-before-the-chunk"])
def test_a_chunk_of_the_feed_records_fees_as_one_event_at_a_time_does(
        world: World, caplog: pytest.LogCaptureFixture, collected_before: bool) -> None:
    """The feed's chunk records its fee events after its events (cod.record_many): in one
    savepoint, and when one fee cannot be stored (an amount no column holds) again one
    savepoint each, so that only that fee is lost: its event stays in the log, the fee
    before it and the corrected one after it are recorded, on the hand-off's row made in
    the chunk or read before it, as one event at a time records them."""
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    orders = [delivered(world, n, at) for n in (1, 2)]

    def ev(order: str, kind: CodEvent, when: datetime, amount: int | None, name: str
           ) -> TrackingEvent:
        code = 6 if kind == CodEvent.COLLECTED else 8
        return TrackingEvent(event_id=f"{name}-{order}", order_number=order, item_code=None,
                             occurred_at=when, raw_code=code, raw_text=f"mã {code}",
                             status=None, known_code=True, cod=kind, amount=amount)

    def fees(order: str) -> list[TrackingEvent]:
        return [ev(order, CodEvent.REMITTED, at + timedelta(days=2), 10**20, "huge"),
                ev(order, CodEvent.REMITTED, at + timedelta(days=3), FEE, "remit"),
                ev(order, CodEvent.REMITTED, at + timedelta(days=4), 1, "second")]

    (one, one_id), (chunked, chunked_id) = orders

    def collected(order: str) -> TrackingEvent:
        return ev(order, CodEvent.COLLECTED, at + timedelta(minutes=2), FEE, "collect")

    for event in [collected(one), *fees(one)]:  # one event at a time
        with uow.begin(world.rt) as s:
            tracking.apply_event(s, event)
    chunk = fees(chunked)
    if collected_before:  # the hand-off's row read by the chunk, not made in it
        with uow.begin(world.rt) as s:
            tracking.apply_event(s, collected(chunked))
    else:
        chunk = [collected(chunked), *chunk]
    with uow.begin(world.rt) as s:
        feeds.apply_chunk(s, chunk)
    assert "taken again" not in caplog.text  # the fee's failure is its own, not the chunk's
    assert "COD events recorded again one by one" in caplog.text
    rows = [ledger_row(world, hid) for hid in (one_id, chunked_id)]
    for row, order in zip(rows, (one, chunked), strict=True):
        assert row is not None
        assert (row.collected_event, row.collected_amount) == (f"collect-{order}", FEE)
        assert (row.remitted_at, row.remitted_event, row.remitted_amount) == (
            at + timedelta(days=3), f"remit-{order}", FEE)
    assert caplog.text.count("COD event huge-") == 2  # not recorded, by id, each way
    assert len(world.log_reasons(chunked_id)) == len(world.log_reasons(one_id))
