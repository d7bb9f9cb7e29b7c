"""The chaos suite's counting and its personal-data markers, on plain values: a second live
order or a second push-back of one status is counted, what is legitimate is not; scenario
5's herd bound passes uniform jitter and fails posts that come back together."""

from __future__ import annotations

import random
from collections import Counter

from chaos import pii
from chaos.__main__ import exit_status, pii_row, table
from chaos.measure import Row, count_duplicate_orders, count_duplicate_pushbacks
from chaos.scenarios.s05_post_office_down import herd_bound
from worker.domain.privacy import mask_name, mask_phone


def test_a_second_live_order_of_a_dossier_is_a_duplicate_a_reorder_after_cancel_is_not():
    orders = {
        "000.00.17.H19-051226-0001/R1": {"cancelled": False},
        "000.00.17.H19-051226-0002/R1": {"cancelled": True},  # cancelled, then ordered again
        "000.00.17.H19-051226-0002/R2": {"cancelled": False},
        "000.00.17.H19-051226-0003/P1": {"cancelled": False},  # the other direction
        "000.00.17.H19-051226-0003/R1": {"cancelled": False},
    }
    assert count_duplicate_orders(orders) == 0
    orders["000.00.17.H19-051226-0001/R2"] = {"cancelled": False}
    assert count_duplicate_orders(orders) == 1


def test_a_status_recorded_twice_is_a_duplicate_push_back_unless_repeatable():
    events = [{"dossierCode": "D1", "status": s}
              for s in ("accepted", "pickup_failed", "pickup_failed", "delivered")]
    assert count_duplicate_pushbacks(events) == 0
    events.append({"dossierCode": "D1", "status": "delivered"})
    assert count_duplicate_pushbacks(events) == 1


def test_markers_are_found_whole_and_not_in_their_masked_forms():
    person = pii.citizen(7)
    text = f"{person['name']} {person['phone']} {person['address']} +84{person['phone'][1:]}"
    assert len(pii.find(text)) == 4
    assert pii.find(f"{mask_name(person['name'])} {mask_phone(person['phone'])} ***") == []
    assert pii.find(f"postgresql://postgres:{pii.DB_PASSWORD}@h/db") == [pii.DB_PASSWORD]


def test_a_row_passes_only_with_nothing_lost_or_done_twice_and_its_checks_held():
    ok = Row("x", 10, 0, 0, 0, 2, 1.5, redelivered=3)
    assert ok.passed()  # dead letters and redeliveries are shown, not failures
    for bad in (Row("x", 10, 1, 0, 0, 0, None), Row("x", 10, 0, 1, 0, 0, None),
                Row("x", 10, 0, 0, 1, 0, None), Row("x", 10, 0, 0, 0, 0, None, failed="no"),
                Row.skipped("x", "no namespaces")):
        assert not bad.passed()
    leak = pii_row(["/tmp/w/stack/worker-1.log: Xoanvirak"], 1)
    assert not leak.passed()
    shown = table([ok, Row.skipped("y", "no namespaces", 16), leak])
    assert "not run: no namespaces" in shown and "| FAIL |" in shown and "| pass |" in shown


def test_the_suite_passes_only_when_every_scenario_ran_and_passed(capsys):
    ok = Row("x", 10, 0, 0, 0, 0, 1.0, number=1)
    assert exit_status([ok]) == 0
    assert exit_status([ok, Row.skipped("clock skew", "libfaketime not installed", 11)]) == 1
    assert "scenario 11 not run: libfaketime not installed" in capsys.readouterr().err
    assert exit_status([ok, Row("y", 10, 1, 0, 0, 0, None, number=2)]) == 1


def test_the_herd_bound_of_scenario_5_lets_uniform_jitter_pass_and_catches_a_herd():
    """Posts spread uniformly over the jitter window are taken for a herd at most about as
    often as the bound's chance (1 %); a 25 % share was wrong six times in ten over a 5 s
    window. Posts that come back together, smeared by the quotas over half a second, fail."""
    rng = random.Random(3)

    def busiest_over_bound(times: list[float], window: float) -> bool:
        per_second = Counter(int(t) for t in times)
        return max(per_second.values()) > herd_bound(len(times), window, max(per_second) + 1)

    for window in (5.0, 10.0):
        flagged = sum(busiest_over_bound([rng.random() + rng.uniform(0, window)
                                          for _ in range(40)], window) for _ in range(1000))
        assert flagged <= 20  # at most 1 % expected
    assert herd_bound(40, 10.0, 11) == 11 and herd_bound(300, 10.0, 11) == 47
    # no jitter: 40 posts within ~0.5 s of the hold's end (4 accounts x 20/s)
    assert busiest_over_bound([2.3 + i * 0.0125 for i in range(40)], 10.0)
    # the measured no-jitter run: 19 of 40 in one second
    assert busiest_over_bound([0.5] * 3 + [1.5] * 19 + [2.5] * 16 + [8.5] * 2, 10.0)
