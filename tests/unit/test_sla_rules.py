"""SLA rules judged against a controllable clock: each rule, its edge, and final hand-offs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.domain.sla_rules import Limits, Rule, Snapshot, broken, rule_label, severity

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam
LIMITS = Limits(accept_within_minutes=60, pickup_within_hours=24, deliver_within_days=5,
                silent_hours=72)


def rules(status: str, now: datetime, **kw: datetime | None) -> set[str]:
    return {r for r, _ in broken(Snapshot(status, T0, **kw), now, LIMITS)}


def test_a_fresh_request_breaks_nothing() -> None:
    assert rules("requested", T0 + timedelta(minutes=59)) == set()


def test_not_accepted_after_the_accept_limit() -> None:
    assert rules("requested", T0 + timedelta(minutes=60)) == set()  # not past yet
    assert rules("requested", T0 + timedelta(minutes=61)) == {Rule.NOT_ACCEPTED}


def test_accepted_in_time_is_not_late_for_acceptance() -> None:
    now = T0 + timedelta(hours=2)
    assert rules("accepted", now, accepted_at=T0 + timedelta(minutes=5)) == set()


def test_not_picked_up_after_the_pickup_limit() -> None:
    now = T0 + timedelta(hours=25)
    acc = T0 + timedelta(minutes=5)
    assert rules("accepted", now, accepted_at=acc) == {Rule.NOT_PICKED_UP}
    assert rules("pickup_failed", now, accepted_at=acc, last_event_at=now) == {
        Rule.NOT_PICKED_UP}
    assert rules("picked_up", now, accepted_at=acc, last_event_at=now) == set()


def test_a_request_never_accepted_breaks_both_accept_and_pickup() -> None:
    assert rules("requested", T0 + timedelta(hours=25)) == {Rule.NOT_ACCEPTED,
                                                            Rule.NOT_PICKED_UP}


def test_not_delivered_after_the_delivery_limit() -> None:
    now = T0 + timedelta(days=5, minutes=1)
    assert rules("in_transit", now, accepted_at=T0, last_event_at=now - timedelta(hours=1)) == {
        Rule.NOT_DELIVERED}
    assert rules("returning", now, accepted_at=T0, last_event_at=now) == {Rule.NOT_DELIVERED}


def test_silent_counts_from_the_last_event() -> None:
    last = T0 + timedelta(hours=30)
    assert rules("in_transit", last + timedelta(hours=72), accepted_at=T0,
                 last_event_at=last) == set()
    assert rules("in_transit", last + timedelta(hours=72, seconds=1), accepted_at=T0,
                 last_event_at=last) == {Rule.SILENT}


def test_silent_without_any_event_counts_from_acceptance() -> None:
    acc = T0 + timedelta(hours=1)
    now = acc + timedelta(hours=73)
    assert Rule.SILENT in rules("accepted", now, accepted_at=acc)
    assert Rule.SILENT not in rules("accepted", now - timedelta(hours=2), accepted_at=acc)


def test_delivery_failed_and_needs_attention_are_breaches_at_once() -> None:
    now = T0 + timedelta(minutes=1)
    assert rules("delivery_failed", now, accepted_at=T0, last_event_at=now) == {
        Rule.DELIVERY_FAILED}
    assert rules("needs_attention", now) == {Rule.NEEDS_ATTENTION}


@pytest.mark.parametrize("status", ["delivered", "returned", "cancelled"])
def test_a_final_hand_off_breaks_nothing_however_late(status: str) -> None:
    now = T0 + timedelta(days=30)
    assert rules(status, now, final_at=now) == set()


def test_an_unknown_status_breaks_nothing() -> None:
    assert rules("teleported", T0 + timedelta(days=30)) == set()


def test_details_are_vietnamese_in_vietnam_time_and_stable_between_runs() -> None:
    h = Snapshot("requested", T0)
    first = dict(broken(h, T0 + timedelta(hours=2), LIMITS))
    later = dict(broken(h, T0 + timedelta(hours=3), LIMITS))
    assert first[Rule.NOT_ACCEPTED] == later[Rule.NOT_ACCEPTED]
    assert "60 phút" in first[Rule.NOT_ACCEPTED] and "08:00 26/11/2026" in first[Rule.NOT_ACCEPTED]


def test_limits_come_from_the_given_values() -> None:
    tight = Limits(accept_within_minutes=5, pickup_within_hours=1, deliver_within_days=1,
                   silent_hours=1)
    got = {r for r, _ in broken(Snapshot("requested", T0), T0 + timedelta(minutes=6), tight)}
    assert got == {Rule.NOT_ACCEPTED}


def test_worse_rules_rank_higher_and_have_labels() -> None:
    assert severity(Rule.NEEDS_ATTENTION) > severity(Rule.NOT_DELIVERED) > severity(
        Rule.NOT_ACCEPTED)
    assert all(rule_label(r) != r.value for r in Rule)


FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
EARLY = datetime(1, 1, 1, tzinfo=UTC)


def test_stored_year_one_is_judged_long_late_and_its_date_shown() -> None:
    found = dict(broken(Snapshot("accepted", EARLY, accepted_at=EARLY), T0, LIMITS))
    assert set(found) == {Rule.NOT_PICKED_UP, Rule.NOT_DELIVERED, Rule.SILENT}
    assert "07:00 01/01/0001" in found[Rule.NOT_DELIVERED]


def test_stored_year_9999_is_not_late_and_never_overflows() -> None:
    assert broken(Snapshot("requested", FAR, last_event_at=FAR), T0, LIMITS) == []
    found = dict(broken(Snapshot("delivery_failed", EARLY, accepted_at=FAR,
                                 last_event_at=FAR), FAR, LIMITS))
    assert set(found) == {Rule.NOT_DELIVERED, Rule.DELIVERY_FAILED}  # silent: last is "now"
    last = datetime(9999, 12, 31, 20, tzinfo=UTC)  # no +07:00 value: shown in UTC
    silent = dict(broken(Snapshot("in_transit", EARLY, last_event_at=last), FAR,
                         Limits(silent_hours=1)))[Rule.SILENT]
    assert "lần cuối lúc 20:00 31/12/9999 (UTC)" in silent


@pytest.mark.parametrize("now", [EARLY, FAR, datetime(2026, 11, 30)])  # the last one naive
def test_any_now_and_naive_values_are_judged(now: datetime) -> None:
    naive_ready = datetime(2026, 11, 1)
    broken(Snapshot("in_transit", naive_ready, accepted_at=T0, last_event_at=EARLY), now,
           LIMITS)


def test_a_limit_too_large_for_a_timedelta_is_never_reached() -> None:
    huge = Limits(accept_within_minutes=1e300, pickup_within_hours=1e300,
                  deliver_within_days=1e300, silent_hours=1e300)
    assert broken(Snapshot("requested", EARLY), FAR, huge) == []
