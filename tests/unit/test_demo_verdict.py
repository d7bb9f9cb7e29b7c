"""`handoff demo` passes only with every hand-off final, no duplicate order, and both outcomes."""

from __future__ import annotations

from pathlib import Path

from worker.db.engine import Database
from worker.db.models import Handoff, utcnow
from worker.launch.demo import _counts, verdict
from worker.service.views.reports import counts_by_status

CARRIER = {"orders": 24, "duplicates": 0}


def test_passes_with_delivered_and_returned() -> None:
    assert verdict({"delivered": 18, "returned": 6}, CARRIER, 24, True) == (True, [])


def test_fails_without_a_return() -> None:
    ok, why = verdict({"delivered": 24}, CARRIER, 24, True)
    assert not ok and why == ["không có hồ sơ nào chuyển hoàn sau khi phát không thành công"]


def test_fails_without_a_delivery() -> None:
    ok, why = verdict({"returned": 24}, CARRIER, 24, True)
    assert not ok and why == ["không có hồ sơ nào phát thành công"]


def test_fails_on_duplicate_order_or_timeout() -> None:
    counts = {"delivered": 18, "returned": 6}
    ok, why = verdict(counts, {"orders": 25, "duplicates": 1}, 24, True)
    assert not ok and "1 đơn trùng" in why[0]
    ok, why = verdict(counts, CARRIER, 24, False)
    assert not ok and why == ["chưa hoàn tất hết trong thời gian cho phép"]


def test_the_watch_counts_by_status_as_the_report_does(sqlite_db: Database,
                                                      tmp_path: Path) -> None:
    """The demo's watch reads the database with the standard library (no SQLAlchemy in its
    process while the run goes on): its counts are the ORM's, and nothing before the
    schema is there."""
    with sqlite_db.unit_of_work() as s:
        for i, status in enumerate(["delivered", "delivered", "returned", "ready"]):
            s.add(Handoff(dossier_code=f"D{i}", direction="result_delivery",
                          source_item_id=f"D{i}", status=status, ready_at=utcnow(),
                          citizen_name="Nguyễn Thị Hoa", citizen_phone="0912345678",
                          citizen_address="12 Lý Thường Kiệt"))
    with sqlite_db.unit_of_work() as s:
        expected = counts_by_status(s)
    assert _counts(tmp_path / "handoff.db") == expected == {
        "delivered": 2, "returned": 1, "ready": 1}
    assert _counts(tmp_path / "no-such.db") == {}
    assert not (tmp_path / "no-such.db").exists()  # read-only: never made
