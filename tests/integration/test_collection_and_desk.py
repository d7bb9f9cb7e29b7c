"""Dossier collection end to end, and concurrent desk requests on PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import select

from simulators.onestop.data import AGENCIES
from tests.integration.flow import (
    all_final,
    assert_each_status_reached_onestop_once,
    ledger_drained,
    wait_until,
)
from tests.support.waits import wait_for
from worker.db.engine import Database
from worker.db.models import Handoff, StatusLogEntry
from worker.launch.stack import Stack

pytestmark = pytest.mark.spread  # each test starts its own stack


def test_collection_flow_with_pickup_failures(tmp_path):
    """pickup_requested: the citizen sends, the agency receives; the courier first finds
    nothing ready (codes 13/14 → pickup_failed), then collects and hands it to the agency."""
    with Stack(home=tmp_path / "home") as stack:
        db = Database(f"sqlite:///{stack.home / 'handoff.db'}")
        stack.start_all()
        stack.carrier_admin("faults", {"pickup_fail_rate": 1.0, "return_rate": 0.0})
        seeded = stack.onestop_admin("handoffs", {"count": 6, "type": "pickup_requested"})
        wait_until(db, all_final(6), 120, "6 collections final", stack)
        ledger_drained(db, 60, stack)
        with db.unit_of_work() as s:
            handoffs = list(s.scalars(select(Handoff)))
            failed = Counter(e.handoff_id for e in s.scalars(select(StatusLogEntry).where(
                StatusLogEntry.status == "pickup_failed", StatusLogEntry.applied.is_(True))))
        assert {h.direction for h in handoffs} == {"pickup"}
        assert {h.status for h in handoffs} == {"delivered"}
        assert all(failed[h.id] >= 1 for h in handoffs), "every courier came once for nothing"
        for item in seeded["items"]:  # sender = citizen, receiver = agency
            order = stack.carrier_admin(f"orders/{item['dossierCode']}/P1")
            body = order.get("body") or order.get("order") or order
            assert body["SenderTel"] == item["citizen"]["phone"].replace("+84", "0")
            assert body["ReceiverName"] == item["agency"]["name"]
        events = stack.onestop_admin("events")["events"]
        assert {e["direction"] for e in events} == {"pickup"}
        assert Counter(e["status"] for e in events)["delivered"] == 6
        assert_each_status_reached_onestop_once(db, stack)


@pytest.mark.services
def test_two_clerks_at_once_on_postgresql_make_one_order_each(tmp_path, pg_url, redis_url):
    desk_everywhere = {"HANDOFF_AGENCIES": json.dumps(
        {code: {"dispatch": "desk"} for code, _name, _province in AGENCIES})}
    with Stack(home=tmp_path / "home", database_url=pg_url, broker_url=redis_url,
               extra_env=desk_everywhere) as stack:
        db = Database(pg_url)
        try:
            stack.start_all()
            made = stack.run("token", "add", "clerks", "--all-agencies")  # agencies vary
            assert made.returncode == 0, made.stderr
            auth = {"Authorization": f"Bearer {made.stdout.strip()}"}
            stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
            items = stack.onestop_admin("handoffs", {"count": 20, "type": "result_ready"})
            codes = [i["dossierCode"] for i in items["items"]]
            wait_until(db, lambda c: c.get("requested") == 20, 60, "20 waiting", stack)
            assert stack.carrier_admin("stats")["orders"] == 0  # desk dispatch: nobody posted
            # two clerks press "Gọi bưu tá" for the same 20 dossiers at the same moment (one
            # in the opposite order), through the desk API of the running web process
            barrier, spans, results = threading.Barrier(2), [], []

            def clerk(order: list[str]) -> None:
                barrier.wait()
                started = time.monotonic()
                r = httpx.post(stack.web_url + "api/v1/pickups", json={"dossierCodes": order},
                               headers=auth, timeout=120)
                spans.append((started, time.monotonic()))
                results.append(r.json()["results"])

            clerks = [threading.Thread(target=clerk, args=(o,)) for o in (codes, codes[::-1])]
            for t in clerks:
                t.start()
            for t in clerks:
                t.join(timeout=150)
            assert len(results) == 2
            assert max(a for a, _ in spans) < min(b for _, b in spans), "they did not overlap"
            ordered = Counter(r["dossierCode"] for res in results for r in res
                              if r["outcome"] == "ordered")
            assert sorted(ordered) == sorted(codes) and set(ordered.values()) == {1}
            others = {r["outcome"] for res in results for r in res if r["outcome"] != "ordered"}
            assert others <= {"already_ordered"}
            wait_until(db, lambda c: sum(c.values()) == 20 and c.get("requested", 0) == 0,
                       90, "20 accepted", stack)
            stats = stack.carrier_admin("stats")
            assert stats["orders"] == 20 and stats["duplicates"] == 0
            assert all(o["created"] == 1 for o in stats["orders_by_number"].values())
        finally:
            db.dispose()


def _withdrawal(item: dict, n: int) -> dict:
    return {"id": f"hof_cancel_{n}", "type": "handoff_cancelled",
            "dossierCode": item["dossierCode"], "procedure": item["procedure"],
            "agency": item["agency"], "codAmount": 0,
            "createdAt": "2026-11-26T10:00:00+07:00", "note": "Công dân rút yêu cầu"}


def test_withdrawals_from_the_onestop_cancel_before_pickup_and_are_refused_after(tmp_path):
    """handoff_cancelled items go through the same cancel as the desk's button."""
    with Stack(home=tmp_path / "home", speed=60.0) as stack:  # 1 simulated hour a minute
        db = Database(f"sqlite:///{stack.home / 'handoff.db'}")
        stack.start_all()
        stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
        early, late = stack.onestop_admin("handoffs", {"count": 2, "type": "result_ready"})[
            "items"]
        wait_until(db, lambda c: c.get("accepted") == 2, 60, "2 accepted", stack)
        stack.onestop_admin("handoffs", {"items": [_withdrawal(early, 1)]})
        wait_until(db, lambda c: c.get("cancelled") == 1, 60, "1 cancelled", stack)
        stack.carrier_admin("advance", {"seconds": 2 * 3600})  # the courier takes the other
        wait_until(db, lambda c: c.get("picked_up", 0) + c.get("in_transit", 0) >= 1, 60,
                   "the other picked up", stack)
        stack.onestop_admin("handoffs", {"items": [_withdrawal(late, 2)]})

        def refused() -> bool:
            out = stack.run("status", late["dossierCode"], "--json")
            return any("cancel refused" in e["reason"] for e in json.loads(out.stdout)[0]["events"])

        wait_for(refused, "the withdrawal after pickup to be refused", 60, every=1)
        stack.carrier_admin("advance", {"seconds": 24 * 3600})
        wait_until(db, lambda c: c.get("delivered") == 1, 90, "the other delivered", stack)
        stats = stack.carrier_admin("stats")
        assert stats["cancelled"] == 1 and stats["orders"] == 2
