"""The status log keeps a reason as its code and parameters; people read it in Vietnamese,
scripts read the English words and the code (`handoff log/status`, `--json`, pages)."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.cli.ops import format_log_row
from worker.db.engine import Database
from worker.db.models import Handoff, StatusLogEntry
from worker.domain.enums import EventSource
from worker.domain.statuses import Status
from worker.service.flow import handoffs
from worker.service.flow.cancel import request_cancel
from worker.service.views.reports import recent_log, timeline

CODE = "000.00.17.H19-261126-0001"


def _handoff(db: Database, status: Status) -> int:
    with db.unit_of_work() as s:
        h = Handoff(dossier_code=CODE, direction="result_delivery", source_item_id=CODE,
                    order_number=f"{CODE}/R1", status=status.value,
                    ready_at=datetime.now(UTC))
        s.add(h)
        s.flush()
        return h.id


def test_a_late_event_is_stored_as_a_code_and_read_in_both_languages(
        sqlite_db: Database) -> None:
    hid = _handoff(sqlite_db, Status.IN_TRANSIT)
    with sqlite_db.unit_of_work() as s:
        decision, _ = handoffs.apply(s, s.get_one(Handoff, hid), handoffs.Change(
            Status.PICKED_UP, "feed", datetime.now(UTC), raw_code="2"))
        assert not decision.applied
    with sqlite_db.unit_of_work() as s:
        entry = s.query(StatusLogEntry).one()
        assert (entry.reason_code, entry.reason_params) == (
            "late_event", {"new": "picked_up", "current": "in_transit"})
        [row] = recent_log(s)
    assert row["reason"] == "late event (picked_up after in_transit)"
    assert row["reason_code"] == "late_event"
    assert row["reason_vi"] == ("tin đến muộn (Bưu tá đã nhận sau Đang vận chuyển), "
                                "không lùi trạng thái")
    assert row["reason_vi"] in format_log_row(row)


def test_a_refused_cancel_keeps_its_cause_as_a_code(sqlite_db: Database) -> None:
    hid = _handoff(sqlite_db, Status.DELIVERED)
    with sqlite_db.unit_of_work() as s:
        assert not request_cancel(s, s.get_one(Handoff, hid), EventSource.DESK, "thử hủy").accepted
    with sqlite_db.unit_of_work() as s:
        [event] = timeline(s, s.get_one(Handoff, hid))["events"]
    assert event["reason_code"] == "cancel_refused"
    assert event["reason"] == "cancel refused: already final (delivered)"
    assert event["reason_vi"] == "không hủy được: hồ sơ đã ở trạng thái cuối (Phát thành công)"


def test_a_row_written_before_codes_shows_its_own_words(sqlite_db: Database) -> None:
    with sqlite_db.unit_of_work() as s:
        s.add(StatusLogEntry(dossier_code=CODE, order_number="", source="onestop",
                             applied=False, reason="mục không có id; không thể ghi nhận",
                             occurred_at=datetime.now(UTC)))
    with sqlite_db.unit_of_work() as s:
        [row] = recent_log(s)
    assert row["reason_code"] == "legacy"
    assert row["reason_vi"] == row["reason"] == "mục không có id; không thể ghi nhận"
