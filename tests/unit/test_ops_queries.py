"""Ops queries on a migrated SQLite database: filters, paging, search, percentiles, masking."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from worker.db.engine import Database
from worker.db.models import Handoff, SlaBreach
from worker.service.views import ops_queries as oq
from worker.service.views.ops_queries import Filters

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in +07:00
PHONE = "0912345678"


def _h(i: int, **kw: object) -> Handoff:
    values: dict = {
        "dossier_code": f"000.00.17.H19-201126-{i:04d}", "direction": "result_delivery",
        "source_item_id": f"item-{i}", "agency_code": "000.00.17.H19",
        "agency_name": "UBND xã Lai Vung", "citizen_name": "Nguyễn Thị Hồng",
        "citizen_phone": f"09{i:08d}", "citizen_address": "Số 12, ấp Tân Lộc",
        "status": "accepted", "ready_at": NOW - timedelta(minutes=i),
    }
    values.update(kw)
    return Handoff(**values)


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


def test_filters_by_status_direction_agency(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add_all([_h(1), _h(2, status="delivered"), _h(3, direction="pickup"),
                   _h(4, agency_code="000.00.21.H19", agency_name="UBND phường Cao Lãnh")])
    with db.unit_of_work() as s:
        assert oq.list_handoffs(s, Filters()).total == 4
        assert [r["status"] for r in oq.list_handoffs(s, Filters(status="delivered")).rows] \
            == ["delivered"]
        assert oq.list_handoffs(s, Filters(direction="pickup")).rows[0]["dossier_code"] \
            .endswith("0003")
        assert oq.list_handoffs(s, Filters(agency="000.00.21.H19")).total == 1
        assert oq.agencies(s) == [("000.00.17.H19", "UBND xã Lai Vung"),
                                  ("000.00.21.H19", "UBND phường Cao Lãnh")]


def test_date_range_uses_vietnam_days(db: Database) -> None:
    # 16:30 UTC on the 19th is 23:30 on the 19th in +07:00; 17:30 UTC is already the 20th.
    with db.unit_of_work() as s:
        s.add_all([_h(1, ready_at=datetime(2026, 11, 19, 16, 30, tzinfo=UTC)),
                   _h(2, ready_at=datetime(2026, 11, 19, 17, 30, tzinfo=UTC))])
    with db.unit_of_work() as s:
        on_20th = oq.list_handoffs(s, Filters(date_from=date(2026, 11, 20),
                                              date_to=date(2026, 11, 20)))
        on_19th = oq.list_handoffs(s, Filters(date_to=date(2026, 11, 19)))
    assert [r["dossier_code"][-4:] for r in on_20th.rows] == ["0002"]
    assert [r["dossier_code"][-4:] for r in on_19th.rows] == ["0001"]


def test_filters_parse_ignores_bad_values() -> None:
    f = Filters.parse({"status": "bogus", "direction": "pickup", "from": "2026-11-01",
                       "to": "not a date", "agency": " 000.00.17.H19 "})
    assert f == Filters(direction="pickup", agency="000.00.17.H19", date_from=date(2026, 11, 1))
    assert f.query() == {"direction": "pickup", "agency": "000.00.17.H19", "from": "2026-11-01"}


def test_paging_is_fifty_newest_first(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add_all([_h(i) for i in range(1, 121)])
    with db.unit_of_work() as s:
        first, last = oq.list_handoffs(s, Filters(), 1), oq.list_handoffs(s, Filters(), 3)
        beyond = oq.list_handoffs(s, Filters(), 99)
    assert (first.total, first.pages, len(first.rows)) == (120, 3, 50)
    assert first.rows[0]["dossier_code"].endswith("0001")  # ready most recently
    assert len(last.rows) == 20 and last.rows[-1]["dossier_code"].endswith("0120")
    assert beyond.page == 3


def test_search_by_phone_in_plus84_form_shows_it_masked(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add_all([_h(1, citizen_phone=PHONE), _h(2), _h(3, item_code="EB123456789VN")])
    with db.unit_of_work() as s:
        by_phone = oq.search(s, "+84 912 345 678")
        by_item = oq.search(s, "eb123456789vn")
        by_code = oq.search(s, "000.00.17.H19-201126-0002")
        nothing = oq.search(s, "   ")
    assert [r["dossier_code"][-4:] for r in by_phone] == ["0001"]
    assert by_phone[0]["phone"] == "09****678" and PHONE not in str(by_phone)
    assert by_phone[0]["citizen"] == "N. T. H***"
    assert [r["dossier_code"][-4:] for r in by_item] == ["0003"]
    assert [r["dossier_code"][-4:] for r in by_code] == ["0002"]
    assert nothing == []


def test_percentile_interpolates() -> None:
    assert oq.percentile([], 50) is None
    assert oq.percentile([5.0], 90) == 5.0
    assert oq.percentile([1, 2, 3, 4], 50) == 2.5
    assert oq.percentile(list(range(1, 11)), 90) == pytest.approx(9.1)


def test_overview_numbers(db: Database) -> None:
    with db.unit_of_work() as s:
        for i, hours in enumerate([10, 20, 30, 40, 100], start=1):
            ready = NOW - timedelta(days=5, minutes=i)  # every delivery already happened
            s.add(_h(i, status="delivered", ready_at=ready,
                     final_at=ready + timedelta(hours=hours)))
        s.add(_h(6, status="needs_attention", status_reason="Mã vùng không tồn tại"))
        late = _h(7, ready_at=NOW - timedelta(days=20))
        s.add(late)
        s.flush()
        s.add_all([SlaBreach(handoff_id=late.id, rule="pickup_overdue", detail="quá 24 giờ"),
                   SlaBreach(handoff_id=late.id, rule="old", cleared_at=NOW)])
    with db.unit_of_work() as s:
        ov = oq.overview(s, now=NOW)
    assert ov["times"] == {"n": 5, "median_h": 30.0, "p90_h": pytest.approx(76.0), "days": 90}
    assert (ov["breaches_n"], ov["attention_n"]) == (1, 1)
    assert [b["rule"] for b in ov["breaches"]] == ["pickup_overdue"]
    assert ov["breaches"][0]["dossier_code"].endswith("0007")
    assert [r["dossier_code"][-4:] for r in ov["attention"]] == ["0006"]
    assert ov["total"] == 7
    assert ov["by_agency"]["rows"][0]["counts"] == {"delivered": 5, "needs_attention": 1,
                                                   "accepted": 1}
    assert ov["by_agency"]["statuses"] == ["accepted", "delivered", "needs_attention"]
    days = {d["day"]: d["n"] for d in ov["per_day"]}
    assert len(days) == 14 and days["2026-11-15"] == 5 and days["2026-11-20"] == 1
    assert sum(days.values()) == 6  # the one 20 days old is outside the window


def test_csv_masks_unless_asked(db: Database) -> None:
    with db.unit_of_work() as s:
        s.add_all([_h(1, citizen_phone=PHONE), _h(2, status="delivered")])
    with db.unit_of_work() as s:
        masked = list(oq.csv_rows(s, Filters(status="accepted")))
        plain = list(oq.csv_rows(s, Filters(), unmasked=True))
    assert masked[0] == oq.CSV_HEADER and len(masked) == 2
    text = "\n".join(",".join(r) for r in masked)
    assert PHONE not in text and "Nguyễn Thị Hồng" not in text and "ấp Tân Lộc" not in text
    assert "09****678" in text and "N. T. H***" in text
    assert len(plain) == 3
    assert any(PHONE in r and "Nguyễn Thị Hồng" in r and "Số 12, ấp Tân Lộc" in r
               for r in plain)


def test_delivery_times_are_result_deliveries_of_the_last_90_days(db: Database) -> None:
    with db.unit_of_work() as s:
        ready = NOW - timedelta(days=3)
        s.add_all([
            _h(1, status="delivered", ready_at=ready, final_at=ready + timedelta(hours=10)),
            # a collection from the citizen is not a delivery of results
            _h(2, status="delivered", direction="pickup", ready_at=ready,
               final_at=ready + timedelta(hours=500)),
            # ready 91 days ago: outside the window
            _h(3, status="delivered", ready_at=NOW - timedelta(days=91),
               final_at=NOW - timedelta(days=80)),
        ])
    with db.unit_of_work() as s:
        times = oq.delivery_times(s, NOW)
    assert times == {"n": 1, "median_h": 10.0, "p90_h": 10.0, "days": 90}


def test_overview_tiles_count_beyond_the_lists(db: Database) -> None:
    with db.unit_of_work() as s:
        late = [_h(i, ready_at=NOW - timedelta(days=10)) for i in range(1, 131)]
        attention = [_h(i, status="needs_attention") for i in range(200, 270)]
        s.add_all(late + attention)
        s.flush()
        s.add_all([SlaBreach(handoff_id=h.id, rule="not_picked_up", detail="quá hạn")
                   for h in late])
        # the SLA scan also marks every needs_attention hand-off: listed once, below
        s.add_all([SlaBreach(handoff_id=h.id, rule="needs_attention", detail="cần xử lý")
                   for h in attention])
    with db.unit_of_work() as s:
        ov = oq.overview(s, now=NOW)
    assert (ov["breaches_n"], ov["attention_n"]) == (130, 70)
    assert len(ov["breaches"]) == oq.BREACHES_SHOWN and len(ov["attention"]) == 50
    assert all(b["rule"] != "needs_attention" for b in ov["breaches"])


def test_late_list_is_worst_first(db: Database) -> None:
    with db.unit_of_work() as s:
        hs = [_h(i) for i in range(1, 5)]
        s.add_all(hs)
        s.flush()
        s.add_all([
            SlaBreach(handoff_id=hs[0].id, rule="not_accepted", detail="",
                      detected_at=NOW - timedelta(days=5)),
            SlaBreach(handoff_id=hs[1].id, rule="delivery_failed", detail="",
                      detected_at=NOW - timedelta(hours=1)),
            SlaBreach(handoff_id=hs[2].id, rule="push_failed", detail="",
                      detected_at=NOW - timedelta(hours=2)),
            SlaBreach(handoff_id=hs[3].id, rule="delivery_failed", detail="",
                      detected_at=NOW - timedelta(hours=3)),
        ])
    with db.unit_of_work() as s:
        rows = oq.open_breaches(s)
    assert [(r["rule"], r["dossier_code"][-1]) for r in rows] == [
        ("push_failed", "3"), ("delivery_failed", "4"), ("delivery_failed", "2"),
        ("not_accepted", "1")]


def test_date_filters_outside_the_window_are_widened_or_clamped_with_a_note() -> None:
    wide = Filters.parse({"from": "0001-01-01", "to": "9999-12-31"})
    assert (wide.date_from, wide.date_to) == (None, None)  # "from the start", "to the end"
    assert len(wide.notes) == 2 and all("ngoài khoảng" in n for n in wide.notes)
    late = Filters.parse({"from": "9999-12-31", "to": "1999-01-01"})
    assert (late.date_from, late.date_to) == (date(2100, 1, 1), date(2000, 1, 1))
    assert "đã dùng 01/01/2100" in late.notes[0]


def test_filters_with_nul_or_unknown_values_say_why_they_were_dropped() -> None:
    f = Filters.parse({"agency": "A\x00B", "status": "x\x00", "from": "2026-02-30"})
    assert f == Filters()
    text = " ".join(f.notes)
    assert "NUL" in text and "Trạng thái" in text and "không phải ngày" in text
    assert "\x00" not in text
