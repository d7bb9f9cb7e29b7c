"""Formatting and arithmetic of stored moments never raise, for any year, zone or naivety;
ids typed by people are read once, and anything that names no row is None."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.domain import moments as m
from worker.domain.enums import VN_TZ
from worker.domain.ids import MAX_ID, parse_id, parse_page

ZONES = st.one_of(st.none(), st.just(UTC), st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))))
ANY_MOMENT = st.builds(lambda dt, tz: dt.replace(tzinfo=tz), st.datetimes(), ZONES)


@given(ANY_MOMENT, ANY_MOMENT, st.timedeltas())
def test_no_formatter_or_arithmetic_raises_for_any_moment(a: datetime, b: datetime,
                                                          delta: timedelta) -> None:
    # what a page shows reads back as the same moment (to the second, clamped at year 1)
    shown = datetime.fromisoformat(m.local(a))
    assert m.as_utc(shown) == m.as_utc(a).replace(microsecond=0)
    assert m.short(a) and m.as_utc(a).tzinfo is UTC
    m.local_date(a)
    assert isinstance(m.safe_add(a, delta), datetime)
    m.duration(m.hours_between(a, b))


def test_extreme_years_are_shown_as_dates_not_hidden() -> None:
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert m.local(far) == "9999-12-31 23:59:59+00:00"  # no +07:00 value: shown as stored
    assert m.short(far) == "23:59 31/12/9999 (UTC)"
    assert m.local_date(far) is None
    assert m.local(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01 07:00:00+07:00"
    assert m.short(datetime(1, 1, 1)) == "07:00 01/01/0001"  # naive: taken as UTC
    assert m.local(None) == "" and m.short(None) == "—"


def test_safe_add_clamps_instead_of_overflowing() -> None:
    far = datetime(9999, 12, 31, tzinfo=UTC)
    assert m.safe_add(far, timedelta(days=5)) == datetime.max.replace(tzinfo=UTC)
    assert m.safe_add(datetime(1, 1, 2, tzinfo=UTC), -timedelta(days=5)) == m.EARLIEST
    assert m.safe_add(far, -timedelta(days=1)) == datetime(9999, 12, 30, tzinfo=UTC)


def test_as_utc_of_year_one_east_of_greenwich_is_the_earliest_moment() -> None:
    vn_year_one = datetime(1, 1, 1, 3, tzinfo=VN_TZ)  # 20:00 on 31/12 of year 0 in UTC
    assert m.as_utc(vn_year_one) == m.EARLIEST


def test_elapsed_mixes_naive_and_aware() -> None:
    assert m.elapsed(datetime(2026, 1, 1), datetime(2026, 1, 1, 7, tzinfo=VN_TZ)) == timedelta(0)


@pytest.mark.parametrize(("hours", "text"), [
    (None, "—"), (float("nan"), "—"), (float("inf"), "—"), (5, "5,0 giờ"), (47.5, "47,5 giờ"),
    (72, "3,0 ngày"), (1e12, "41666666666,7 ngày")])
def test_duration_reads_as_people_say_it(hours: float | None, text: str) -> None:
    assert m.duration(hours) == text


def test_day_start_is_midnight_at_plus_seven() -> None:
    assert m.day_start(date(2026, 11, 26)) == datetime(2026, 11, 25, 17, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", 1), ("0042", 42), (" 7 ", 7), (str(MAX_ID), MAX_ID), (5, 5), ("0" * 500 + "9", 9),
    (str(MAX_ID + 1), None), (str(10**23), None), ("0", None), ("-1", None), ("+1", None),
    ("1x", None), ("", None), ("١٢", None), ("1_000", None), ("1e3", None), (-3, None),
    (True, None), (None, None), (1.0, None), ("9" * 5000, None)])
def test_parse_id_names_a_row_or_nothing(raw: object, expected: int | None) -> None:
    assert parse_id(raw) == expected


@pytest.mark.parametrize(("raw", "last", "expected"), [
    (None, None, 1), ("3", None, 3), ("-7", 5, 1), (str(10**23), 5, 1), ("9", 5, 5),
    ("2", 0, 1)])
def test_parse_page_is_clamped(raw: object, last: int | None, expected: int) -> None:
    assert parse_page(raw, last=last) == expected
