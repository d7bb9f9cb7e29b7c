"""OrderNumber derivation, stable push event ids, backoff; phone and unit validation; masking;
which milestones are told late."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from worker.domain.errors import InvalidInput
from worker.domain.privacy import mask_name, mask_phone, scrub
from worker.domain.rules import (
    RETRY_AFTER_SPREAD_S,
    backoff_seconds,
    order_number,
    push_event_id,
)
from worker.domain.statuses import Direction, Status
from worker.domain.transitions import told_late
from worker.domain.validation import check_dossier_code, check_unit_codes, normalize_phone


def test_order_number_is_stable_and_distinguishes_direction_and_generation():
    code = "000.00.17.H19-201126-0001"
    assert order_number(code, Direction.RESULT_DELIVERY) == "000.00.17.H19-201126-0001/R1"
    assert order_number(code, Direction.RESULT_DELIVERY) == order_number(code, "result_delivery")
    assert order_number(code, Direction.PICKUP) == "000.00.17.H19-201126-0001/P1"
    assert order_number(code, Direction.RESULT_DELIVERY, 2).endswith("/R2")


def test_long_dossier_code_still_fits_50_chars_and_stays_unique():
    a = order_number("X" * 60 + "-201126-0001", Direction.PICKUP)
    b = order_number("X" * 60 + "-201126-0002", Direction.PICKUP)
    assert len(a) <= 50 and len(b) <= 50 and a != b


def test_push_event_id_is_stable():
    assert push_event_id("o/R1", "k") == push_event_id("o/R1", "k")
    assert push_event_id("o/R1", "k") != push_event_id("o/R1", "k2")


def test_backoff_grows_with_jitter_and_respects_retry_after():
    rng = random.Random(1)
    waits = [backoff_seconds(n, 5, 3600, rng=rng) for n in range(1, 8)]
    assert waits[0] <= 5 and waits[-1] > waits[0]
    assert all(w <= 3600 for w in waits)
    assert backoff_seconds(1, 5, 3600, retry_after=120, rng=rng) >= 120


@pytest.mark.parametrize("asked", [0.0, 1.0, 5.0, 10.0, 30.0, 600.0, 7200.0])
def test_retry_after_gets_a_bounded_jitter_never_earlier(asked: float):
    """Rows refused in the same second with one Retry-After spread over the next 10 s
    instead of all coming back in one second (a herd)."""
    rng = random.Random(5)
    # attempt 1: the backoff alone (2.5..5 s) is below every Retry-After but the smallest
    waits = [backoff_seconds(1, 5, 3600, retry_after=asked, rng=rng) for _ in range(400)]
    assert all(w >= asked for w in waits)
    assert max(waits) <= asked + RETRY_AFTER_SPREAD_S
    if asked >= 5:
        assert len({round(w, 1) for w in waits}) > 20  # spread out, not one instant
        assert max(waits) - min(waits) > RETRY_AFTER_SPREAD_S * 0.8


def test_the_rows_of_one_hold_spread_evenly_after_its_end_whatever_was_left_of_it():
    """A held account's rows are refused with what is left of its hold (1-5 s of a 5 s one,
    as in chaos scenario 5): each comes back after the hold's end, and together they spread
    evenly over the window after it, the rows refused late in the hold no closer to its end
    than the rest (a jitter in proportion to what was left put ~40 % in the first second)."""
    rng = random.Random(7)
    rows = 4000
    after_end = []
    for i in range(rows):
        left = 1.0 + 4.0 * i / rows  # refused 1..5 s before the hold's end
        after_end.append(backoff_seconds(3, 0.5, 20, retry_after=left, rng=rng) - left)
    assert min(after_end) >= 0.0 and max(after_end) <= RETRY_AFTER_SPREAD_S
    per_second = [sum(1 for x in after_end if s <= x < s + 1) / rows
                  for s in range(int(RETRY_AFTER_SPREAD_S))]
    assert max(per_second) < 1.5 / RETRY_AFTER_SPREAD_S  # ~10 % each, none a herd
    late = [x for i, x in enumerate(after_end) if i < rows // 4]  # refused 1-2 s before
    assert sum(late) / len(late) > RETRY_AFTER_SPREAD_S / 2 - 1.0  # as far out as the rest


@pytest.mark.parametrize("raw,expected", [
    ("0912345678", "0912345678"), ("+84 912 345 678", "0912345678"),
    ("84912345678", "0912345678"), ("091.234.5678", "0912345678"),
    ("02773 851 234", "02773851234"),
])
def test_phone_numbers_are_normalized(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", None, "12345", "0112345678", 912345678, "09123456789"])
def test_bad_phone_numbers_name_the_field(raw):
    with pytest.raises(InvalidInput) as e:
        normalize_phone(raw)
    assert e.value.field == "citizen.phone"


def test_units_in_force_since_july_2025():
    assert check_unit_codes("82", 30226) == ("82", "30226")  # Xã Lai Vung, Đồng Tháp
    with pytest.raises(InvalidInput) as e:
        check_unit_codes("82", "99999")
    assert e.value.field == "citizen.wardCode"
    with pytest.raises(InvalidInput) as e:
        check_unit_codes("87", "30226")  # Đồng Tháp's old code (merged in 2025)
    assert e.value.field == "citizen.provinceCode"


def test_dossier_code_format():
    assert check_dossier_code("000.00.17.H19-201126-0001")
    with pytest.raises(InvalidInput):
        check_dossier_code("not a code")


def test_masking():
    assert mask_phone("0912345678") == "09****678"
    assert mask_name("Nguyễn Thị Hồng") == "N. T. H***"
    assert "0912345678" not in scrub("call 0912345678 now")


@pytest.mark.parametrize("text", [
    "gọi 0912345678", "0912 345 678", "091.234.5678", "+84 912 345 678", "84912345678",
    "ĐT 02773 851 234", "84 912 345 678", "+84.912.345.678", "0912-345-678", "028 3823 4567",
    "SĐT: 0912 345 678.", "(0912.345.678)", "gọi 091 234 5678 nhé", "tel0912345678",
    "SĐT0912 345 678",
])
def test_scrub_masks_phones_however_they_are_written(text):
    out = scrub(text)
    digits = "".join(ch for ch in text if ch.isdigit())
    assert digits[-7:-3] not in "".join(ch for ch in out if ch.isdigit())
    assert "****" in out


@pytest.mark.parametrize("text", [
    "hồ sơ 000.00.17.H19-261126-0001", "EB123456785VN", "2026-11-26 09:15:00", "HTTP 503",
    "lastId=6b07ebdd0000000000000003", "000.00.17.019-201126-0001/R1", "01.12.2026 10:30",
    "84.000.000 đồng", "1.250.000 đồng",
])
def test_scrub_leaves_codes_and_times_alone(text):
    assert scrub(text) == text


@pytest.mark.parametrize(("new", "minutes", "told", "late"), [
    (Status.PICKUP_FAILED, -5, [Status.ACCEPTED, Status.DELIVERED], True),  # the B case
    (Status.PICKUP_FAILED, -5, [Status.PICKUP_FAILED, Status.DELIVERED], True),  # attempt 2
    (Status.IN_TRANSIT, -5, [Status.IN_TRANSIT, Status.DELIVERED], False),  # told already
    (Status.IN_TRANSIT, +5, [Status.DELIVERED], False),  # after what was told: a conflict
    (Status.IN_TRANSIT, -5, [], False),  # nothing told yet: nothing to be late for
    (None, -5, [Status.DELIVERED], False),  # informational codes are no milestone
    (Status.NEEDS_ATTENTION, -5, [Status.DELIVERED], False),  # ours, not the carrier's
], ids=["failed-pickup-after-delivery", "second-attempt", "status-told", "after-newest",
        "nothing-told", "informational", "not-a-carrier-milestone"])
def test_told_late_only_for_a_real_milestone_older_than_what_was_told(
        new: Status | None, minutes: int, told: list[Status], late: bool) -> None:
    newest = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    history = [(s, newest - timedelta(hours=len(told) - i - 1)) for i, s in enumerate(told)]
    assert told_late(new, newest + timedelta(minutes=minutes), history) is late
