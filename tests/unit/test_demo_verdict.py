"""`handoff demo` passes only with every hand-off final, no duplicate order, and both outcomes."""

from __future__ import annotations

from worker.launch.demo import verdict

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
