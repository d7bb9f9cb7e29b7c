"""Each milestone told to the one-stop exactly once, on a real worker (PostgreSQL, Redis), with
the carrier's status pushes running ahead of its feed: the push product has no failed
pick-up code, so those come by the feed after the push said delivered and are told late;
withdrawals after pick-up are one `withdrawal_refused` each, never a status again."""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from pathlib import Path

import httpx

from integrations.carrier.mapping import lookup_status
from tests.integration.flow import all_final, ledger_drained, wait_until
from tests.onestop_items import changed, numbered
from worker.db.engine import Database
from worker.domain.statuses import REPEATABLE
from worker.stack import EXAMPLE_AGENCIES, Stack

CAO_LANH, SO_TU_PHAP = "000.00.21.H19", "000.00.01.H19"  # own accounts C0021 (B), C0101 (A)
PUSHING = (CAO_LANH, SO_TU_PHAP)
PER_AGENCY = 4


def _agencies(tmp_path: Path) -> tuple[Path, dict]:
    """The example agencies with secrets of this run's own."""
    data = json.loads(EXAMPLE_AGENCIES.read_text(encoding="utf-8"))
    for code in PUSHING:
        for field in ("secret_key", "push_secret"):
            data[code][field] = secrets.token_urlsafe(32)
    path = tmp_path / "agencies.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path, data


def _items() -> list[dict]:
    return [numbered(n, agency__code=code) for n, code in enumerate(
        [c for c in PUSHING for _ in range(PER_AGENCY)], start=1)]


def _recorded(stack: Stack) -> dict[str, list[dict]]:
    events = stack.onestop_admin("events")
    events = events["events"] if isinstance(events, dict) else events
    per: dict[str, list[dict]] = {}
    for e in events:
        per.setdefault(e["dossierCode"], []).append(e)
    return per


def _carrier_milestones(stack: Stack, order_number: str) -> Counter:
    """What the carrier reported of one order: each status it maps to, a failed attempt
    counted per event (each is an attempt of its own)."""
    found: Counter = Counter()
    for doc in stack.carrier_admin(f"orders/{order_number}")["events"]:
        status, _ = lookup_status(doc["StatusCode"])
        if status is not None:
            found[status.value] = found[status.value] + 1 if status in REPEATABLE else 1
    return found


def _told(events: list[dict]) -> Counter:
    return Counter(e["status"] for e in events)


def test_pushes_ahead_of_the_feed_and_refused_withdrawals_tell_each_milestone_once(
        tmp_path: Path, pg_url: str, redis_url: str) -> None:
    agencies_file, agencies = _agencies(tmp_path)
    with Stack(home=tmp_path / "home", database_url=pg_url, broker_url=redis_url,
               agencies_file=agencies_file) as stack:
        db = Database(pg_url)
        try:
            stack.start_all()
            hook = stack.web_url + "hooks/carrier/"
            stack.carrier_admin("faults", {
                "return_rate": 0.0, "pickup_fail_rate": 1.0, "feed_lag_s": 4.0,
                "push_targets": {agencies[c]["customer_code"]: [hook + c,
                                                                agencies[c]["push_secret"]]
                                 for c in PUSHING}})
            items = _items()
            stack.onestop_admin("handoffs", {"items": items})
            wait_until(db, all_final(len(items)), 120, "every dossier delivered", stack)

            # the citizen withdraws three of them after the courier took them; one of the
            # three twice (a second withdrawal item): each item is refused once
            withdrawn = {items[0]["dossierCode"]: 2, items[1]["dossierCode"]: 1,
                         items[PER_AGENCY]["dossierCode"]: 1}
            n = 0
            for code, times in withdrawn.items():
                item = next(i for i in items if i["dossierCode"] == code)
                for _ in range(times):
                    n += 1
                    stack.onestop_admin("handoffs", {"items": [changed(
                        item, id=f"hof_withdraw_{n}", type="handoff_cancelled")]})

            def untold() -> dict[str, tuple[dict, dict]]:
                """(told, reported) of each dossier the one-stop has not heard all of."""
                recorded, missing = _recorded(stack), {}
                for item in items:
                    code = item["dossierCode"]
                    told = _told(recorded.get(code, []))
                    wanted = _carrier_milestones(stack, f"{code}/R1")
                    wanted["withdrawal_refused"] = withdrawn.get(code, 0)
                    if any(told[s] < k for s, k in wanted.items()):
                        missing[code] = (dict(told), dict(wanted))
                return missing

            deadline = time.monotonic() + 60
            while missing := untold():
                assert time.monotonic() < deadline, f"not told to the one-stop: {missing}"
                time.sleep(0.5)
            ledger_drained(db, 60, stack)

            recorded = _recorded(stack)
            assert stack.onestop_admin("stats")["duplicate_deliveries"] == 0
            late = 0
            for item in items:
                code = item["dossierCode"]
                events = recorded[code]
                told = _told(events)
                wanted = _carrier_milestones(stack, f"{code}/R1")
                # exactly what the carrier reported, plus our own accepted, once each
                assert {s: k for s, k in told.items() if s != "withdrawal_refused"} == {
                    **wanted, "accepted": 1}, (code, events)
                assert told["withdrawal_refused"] == withdrawn.get(code, 0), (code, events)
                late += sum(1 for e in events if e.get("late"))
                for e in events:
                    if e.get("late"):  # older than what was told before it
                        assert e["status"] != "delivered"
                # the one-stop's postal status is still the last real one
                dossier = httpx.get(f"{stack.onestop_url}api/v1/dossiers/{code}",
                                    headers={"authorization": "Bearer demo-onestop-key"},
                                    timeout=10).json()
                assert dossier["postalStatus"] == "delivered", (code, events)
            # the push ran ahead: the failed pick-ups came by the feed after "delivered"
            assert late >= 1, recorded
            assert stack.carrier_admin("stats")["pushes_sent"] > 0
        finally:
            db.dispose()
