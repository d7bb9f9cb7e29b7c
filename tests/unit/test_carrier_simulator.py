"""Carrier simulator rules and store, without HTTP: paths, feed faults, cancel, config merge."""

from __future__ import annotations

import pytest

from integrations.carriers.vnpost import wire
from simulators.carrier.rules import HOUR, SimConfig, plan_path
from simulators.carrier.store import SimStore

BODY = {
    "CustomerCode": "C0001",
    "OrderNumber": "000.00.17.H19-201126-0001/R1",
    "CODAmount": 0,
    "SenderName": "Một cửa",
    "SenderAddress": "Lai Vung",
    "SenderTel": "02773000000",
    "SenderProvince": 82,
    "SenderDistrict": 82098,
    "ReceiverName": "Nguyễn Thị Hồng",
    "ReceiverAddress": "Hoàn Kiếm",
    "ReceiverTel": "0912345678",
    "ReceiverProvince": 1,
    "ReceiverDistrict": 1004,
}


def codes(cfg: SimConfig, cod: int = 0) -> list[int]:
    return [s.code for s in plan_path(cfg, "O-1", cod)]


def test_paths_follow_the_configured_rates():
    assert codes(SimConfig(return_rate=0, pickup_fail_rate=0)) == [1, 2, 10, 3, 5]
    assert codes(SimConfig(return_rate=0, pickup_fail_rate=0), cod=10000) == [
        1,
        2,
        10,
        3,
        5,
        6,
        8,
    ]
    assert codes(SimConfig(return_rate=1, pickup_fail_rate=0)) == [1, 2, 3, 4, 4, 7, 9]
    failed_first = codes(SimConfig(return_rate=0, pickup_fail_rate=1))
    assert failed_first[0] == 13 and failed_first[-5:] == [1, 2, 10, 3, 5]


def test_paths_are_deterministic_per_order_number_and_seed():
    cfg = SimConfig(return_rate=0.5, pickup_fail_rate=0.5, seed=3)
    assert plan_path(cfg, "A", 0) == plan_path(cfg, "A", 0)


def test_out_of_order_events_reach_the_feed_swapped():
    store = SimStore(SimConfig(return_rate=0, pickup_fail_rate=0, out_of_order_rate=1.0))
    assert store.post(dict(BODY)) == (100, "Tạo đơn hàng thành công", True)
    store.advance(30 * HOUR)
    docs = store.tracking(wire.FIRST_CURSOR, 100)["_embedded"]["rh:doc"]
    times = [d["EventTime"] for d in docs]
    assert len(docs) == 5 and times != sorted(times)
    oids = [d["_id"]["$oid"] for d in docs]
    assert oids == sorted(oids) and all(len(o) == 24 for o in oids)


def test_cancel_after_a_failed_pickup_is_still_allowed():
    store = SimStore(SimConfig(return_rate=0, pickup_fail_rate=1))
    store.post(dict(BODY))
    store.advance(1.3 * HOUR)  # the first (failed) pickup visit has happened
    assert store.order_view(BODY["OrderNumber"])["events"][0]["StatusCode"] == 13
    assert store.cancel("C0001", BODY["OrderNumber"]) == (100, "Hủy đơn hàng thành công")
    assert store.cancel("C0001", "nope")[0] == 105


def test_feed_ids_keep_growing_across_a_reset():
    store = SimStore(SimConfig(return_rate=0, pickup_fail_rate=0))
    store.post(dict(BODY))
    store.advance(100 * HOUR)
    last = store.tracking(wire.FIRST_CURSOR, 100)["_embedded"]["rh:doc"][-1]["_id"]["$oid"]
    store.reset()
    store.post(dict(BODY))
    store.advance(2 * HOUR)
    assert store.tracking(last, 100)["_returned"] == 1


def test_config_merge_checks_keys_and_types():
    cfg = SimConfig()
    cfg.merge({"error_rate": 1, "lose_first_reply": True, "customer_code": "C1"})
    assert cfg.error_rate == 1 and cfg.lose_first_reply and cfg.customer_code == "C1"
    for bad in ({"nope": 1}, {"lose_first_reply": 1}, {"speed": 0}, {"fail_next": 1.5}):
        with pytest.raises(ValueError):
            cfg.merge(bad)
