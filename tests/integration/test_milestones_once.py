"""Each milestone told to the one-stop exactly once, on a real worker (PostgreSQL, Redis), with
the carrier's status pushes running ahead of its feed: the push product has no failed
pick-up code, so those come by the feed after the push said delivered and are told late;
withdrawals after pick-up are one `withdrawal_refused` each, never a status again."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import select

from integrations.carriers.vnpost.wire import lookup_status
from tests.integration.flow import all_final, ledger_drained, wait_until
from tests.onestop_items import changed, numbered
from tests.support.waits import wait_for
from worker.db.engine import Database
from worker.db.models import Cursor, Handoff, Job
from worker.domain.statuses import REPEATABLE
from worker.launch.stack import EXAMPLE_AGENCIES, Stack
from worker.service.flow.feeds import ACCOUNT_CURSOR_PREFIX, CARRIER_CURSOR

CAO_LANH, SO_TU_PHAP = "000.00.21.H19", "000.00.01.H19"  # own accounts C0021 (B), C0101 (A)
LAI_VUNG = "000.00.17.H19"  # the default account, which has no push: the feed alone tells it
PUSHING = (CAO_LANH, SO_TU_PHAP)
PER_AGENCY = 4
FROZEN, FAST = 0.001, 14400.0  # simulated seconds per real second
FEED_LAG_S = 8.0


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
        [c for c in (*PUSHING, LAI_VUNG) for _ in range(PER_AGENCY)], start=1)]


def _recorded(stack: Stack) -> dict[str, list[dict]]:
    events = stack.onestop_admin("events")
    events = events["events"] if isinstance(events, dict) else events
    per: dict[str, list[dict]] = {}
    for e in events:
        per.setdefault(e["dossierCode"], []).append(e)
    return per


def _carrier_events(stack: Stack, code: str) -> list[dict]:
    return stack.carrier_admin(f"orders/{code}/R1")["events"]


def _carrier_milestones(stack: Stack, code: str) -> Counter:
    """What the carrier reported of one order: each status it maps to, a failed attempt
    counted per event (each is an attempt of its own)."""
    found: Counter = Counter()
    for doc in _carrier_events(stack, code):
        status, _ = lookup_status(doc["StatusCode"])
        if status is not None:
            found[status.value] = found[status.value] + 1 if status in REPEATABLE else 1
    return found


def _told(events: list[dict]) -> Counter:
    return Counter(e["status"] for e in events)


def _statuses(db: Database) -> dict[str, str]:
    with db.unit_of_work() as s:
        return dict(s.execute(select(Handoff.dossier_code, Handoff.status)).all())


def _withdraw(stack: Stack, item: dict, n: int) -> None:
    stack.onestop_admin("handoffs", {"items": [changed(
        item, id=f"hof_withdraw_{n}", type="handoff_cancelled")]})


def _feeds_read_to_the_end(stack: Stack, db: Database, items: list[dict]) -> bool:
    """Each own account's feed cursor stands at its account's last carrier event, and the
    default account's (whose simulator feed shows every account) at the last of all:
    nothing the carrier said is still on its way (cursors are oids of the last entry)."""
    last: dict[str, str] = {}
    for item in items:
        for doc in _carrier_events(stack, item["dossierCode"]):
            code = doc["CustomerCode"]
            last[code] = max(last.get(code, ""), doc["_id"]["$oid"])
    with db.unit_of_work() as s:
        cursors = dict(s.execute(select(Cursor.name, Cursor.value)).all())
    own = {name.rsplit(":", 1)[-1]: value for name, value in cursors.items()
           if name.startswith(ACCOUNT_CURSOR_PREFIX)}
    return (all(own.get(code) == oid for code, oid in last.items() if code != "C0001")
            and cursors.get(CARRIER_CURSOR) == max(last.values()))


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
                "speed": FROZEN, "return_rate": 0.0, "pickup_fail_rate": 1.0,
                "feed_lag_s": FEED_LAG_S,
                "push_targets": {agencies[c]["customer_code"]: [hook + c,
                                                                agencies[c]["push_secret"]]
                                 for c in PUSHING}})
            items = _items()
            by_code = {i["dossierCode"]: i for i in items}
            stack.onestop_admin("handoffs", {"items": items})
            wait_until(db, lambda c: c.get("accepted", 0) == len(items), 60,
                       "every order accepted", stack)

            # Three simulated hours on: each order whose courier found the dossier ready on
            # the second visit has it now (the seed fixes which), the others failed twice.
            stack.carrier_admin("advance", {"seconds": 3 * 3600})
            taken = [c for c in by_code if any(d["StatusCode"] == 1
                                               for d in _carrier_events(stack, c))]
            pushed = [c for c in taken if by_code[c]["agency"]["code"] in PUSHING]
            unseen = [c for c in taken if by_code[c]["agency"]["code"] == LAI_VUNG]
            assert pushed and unseen, taken
            # The default account's pick-up waits in the feed: its withdrawal goes to the
            # carrier, which refuses it. A pushing account's is known here at once and is
            # refused here.
            _withdraw(stack, by_code[unseen[0]], 1)
            wait_for(lambda: _statuses(db)[pushed[0]] == "picked_up",
                     "the push of the pick-up applied", 30, every=0.3)
            _withdraw(stack, by_code[pushed[0]], 2)
            withdrawn = Counter({unseen[0]: 1, pushed[0]: 1})
            wait_for(lambda: all(_told(_recorded(stack)[c])["withdrawal_refused"] == 1
                                 for c in withdrawn), "both withdrawals refused", 30, every=0.3)

            stack.carrier_admin("faults", {"speed": FAST})
            wait_until(db, all_final(len(items)), 120, "every dossier delivered", stack)
            # after delivery: one refused here again, one of them a second time
            for n, code in enumerate((items[1]["dossierCode"], pushed[0]), start=3):
                _withdraw(stack, by_code[code], n)
                withdrawn[code] += 1

            def untold() -> dict[str, tuple[dict, dict]]:
                """(told, reported) of each dossier the one-stop has not heard all of."""
                recorded, missing = _recorded(stack), {}
                for code in by_code:
                    told = _told(recorded.get(code, []))
                    wanted = _carrier_milestones(stack, code)
                    wanted["withdrawal_refused"] = withdrawn[code]
                    if any(told[s] < k for s, k in wanted.items()):
                        missing[code] = (dict(told), dict(wanted))
                return missing

            wait_for(lambda: not untold(), "every milestone told to the one-stop", 60,
                     seen=lambda: f"not told to the one-stop: {untold()}")
            wait_for(lambda: _feeds_read_to_the_end(stack, db, items),
                     "every feed read to its last entry", 60, every=0.3)
            ledger_drained(db, 60, stack)

            recorded = _recorded(stack)
            assert stack.onestop_admin("stats")["duplicate_deliveries"] == 0
            late = 0
            for code in by_code:
                events = recorded[code]
                told = _told(events)
                # exactly what the carrier reported, plus our own accepted, once each
                assert {s: k for s, k in told.items() if s != "withdrawal_refused"} == {
                    **_carrier_milestones(stack, code), "accepted": 1}, (code, events)
                assert told["withdrawal_refused"] == withdrawn[code], (code, events)
                late += sum(1 for e in events if e.get("late"))
                # the one-stop's postal status is still the last real one
                dossier = httpx.get(f"{stack.onestop_url}api/v1/dossiers/{code}",
                                    headers={"authorization": "Bearer demo-onestop-key"},
                                    timeout=10).json()
                assert dossier["postalStatus"] == "delivered", (code, events)
            # the push ran ahead: failed pick-ups came by the feed after it moved on
            assert late >= 1, recorded
            assert stack.carrier_admin("stats")["pushes_sent"] > 0
            # the default account's withdrawal was asked of the carrier and refused there
            with db.unit_of_work() as s:
                asked = s.scalars(select(Job.payload).where(Job.kind == "cancel_order")).all()
            assert [p.get("withdrawal") for p in asked] == ["hof_withdraw_1"], asked
        finally:
            db.dispose()
