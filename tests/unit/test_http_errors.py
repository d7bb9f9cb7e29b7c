"""Retry-After, read once for both the carrier and the one-stop system."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from integrations.http_errors import header, retry_after

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),  # never a negative wait
        ("Thu, 26 Nov 2026 02:00:30 GMT", 30.0),  # HTTP-date, IMF-fixdate
        ("Thursday, 26-Nov-26 02:01:00 GMT", 60.0),  # obsolete RFC 850 form
        ("Thu Nov 26 02:00:05 2026", 5.0),  # asctime form, taken as GMT
        ("Thu, 26 Nov 2026 01:00:00 GMT", 0.0),  # a date in the past: go now
    ],
)
def test_seconds_or_http_date(value, seconds):
    assert retry_after({"Retry-After": value}, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "soon", "nan", "inf", "Thu, 99 Foo 2026"])
def test_unreadable_values_are_none(value):
    assert retry_after({"Retry-After": value}, now=NOW) is None


def test_absent_header_is_none():
    assert retry_after(None) is None
    assert retry_after({}) is None
    assert retry_after({"Content-Type": "application/json"}) is None


def test_header_name_is_case_insensitive_and_httpx_headers_work():
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"RETRY-AFTER": "4"}) == 4.0
    assert retry_after(httpx.Headers({"Retry-After": "5"})) == 5.0
    assert header({"X-A": 1}, "x-a") == "1"


def test_http_date_uses_the_clock_by_default():
    later = (datetime.now(UTC) + timedelta(minutes=10)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    wait = retry_after({"Retry-After": later})
    assert wait is not None and 500 < wait <= 600


def test_naive_now_is_taken_as_utc():
    naive = NOW.replace(tzinfo=None)
    assert retry_after({"Retry-After": "Thu, 26 Nov 2026 02:00:30 GMT"}, now=naive) == 30.0
