"""The carrier quota with real Celery workers: three worker processes (three pool processes
each) post the dossiers of three agencies on three accounts (route A default, route B own,
route A own) while beat polls every feed each second. The post office counts every request
per account on arrival: no account ever gets more than its quota in any second, and the
account it answers 429 for a while is the only one slowed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.flow import wait_until
from tests.onestop_items import numbered
from tests.support.waits import wait_for
from worker.db.engine import Database
from worker.db.models import Handoff
from worker.launch.stack import EXAMPLE_AGENCIES, Stack

QUOTA = 4  # requests per second per account
PER_AGENCY = 8
NAMES = {"000.00.17.H19": "UBND xã Lai Vung", "000.00.21.H19": "UBND phường Cao Lãnh",
         "000.00.01.H19": "Sở Tư pháp tỉnh Đồng Tháp"}
HOLD_LIMIT_S = 90.0  # the longest the held account could be held (it is let go before)
HELD_KEY, FREE_KEY = "sim-caolanh-lgsp-consumer", "sim-sotuphap-ngsp-key"  # route B / A
HELD_CODE, FREE_CODE = "000.00.21.H19", "000.00.01.H19"  # their agencies


def _accepted_at(db: Database) -> dict[str, list[float]]:
    with db.unit_of_work() as s:
        rows = s.execute(select(Handoff.agency_code, Handoff.accepted_at)).all()
    out: dict[str, list[float]] = {}
    for code, at in rows:
        if at is not None:
            out.setdefault(code, []).append(at.timestamp())
    return out


def _wait_for(db: Database, agency: str, count: int, seconds: float) -> None:
    """Until `count` of the agency's hand-offs are accepted by the post office."""
    wait_for(lambda: len(_accepted_at(db).get(agency, [])) >= count,
             f"{agency}: {count} accepted", seconds, every=0.1)


# the free account's full speed is timed, not beside other tests; and the machine to itself:
# beside the other serial modules 5 requests of one account once reached the post office
# within a second (quota 4): the margin between slots (0.25 s) covers the jitter of a machine
# loaded by this test's own processes (three workers of three pool processes, beat, web)
@pytest.mark.serial
@pytest.mark.alone
def test_three_workers_keep_every_account_under_its_quota(tmp_path: Path) -> None:
    data = json.loads(EXAMPLE_AGENCIES.read_text(encoding="utf-8"))
    for entry in data.values():
        if entry.get("customer_code"):
            entry["quota_per_second"] = QUOTA
    agencies_file = tmp_path / "agencies.json"
    agencies_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    env = {"HANDOFF_CARRIER_QUOTA_PER_SECOND": str(QUOTA),  # the default account's
           # three workers, the simulator and the store share a small test machine: room for
           # the jitter between a request's slot and its arrival (see test_quota.py)
           "HANDOFF_CARRIER_QUOTA_MARGIN_SECONDS": "0.25",
           "HANDOFF_WORKER_CONCURRENCY": "3",
           # the carrier polls share each account's budget: every second, as this test is
           # written for (above), not every 2 s as other tests' stacks (tests/conftest.py)
           "HANDOFF_POLL_CARRIER_EVERY": "1", "HANDOFF_SWEEP_EVERY": "1"}
    with Stack(home=tmp_path / "home", agencies_file=agencies_file, extra_env=env) as stack:
        db = Database(f"sqlite:///{tmp_path / 'home' / 'handoff.db'}")
        try:
            stack.start_all()
            stack.start_worker("worker2")
            stack.start_worker("worker3")
            stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
            items, n = [], 1
            for code, name in NAMES.items():
                for _ in range(PER_AGENCY):
                    items.append(numbered(n, agency__code=code, agency__name=name))
                    n += 1
            stack.onestop_admin("handoffs", {"items": items})
            # the post office holds Cao Lãnh's account (429, Retry-After 1) until the free
            # account's dossiers are all accepted, then lets it go: timed from the free
            # account's own posts, not from the seeding (a slow machine's start-up, seconds
            # before the first post, once made a fixed hold end before the free account did)
            stack.carrier_admin("quota", {"throttle": {HELD_KEY: {"seconds": HOLD_LIMIT_S,
                                                                  "retry_after": 1}}})
            _wait_for(db, FREE_CODE, PER_AGENCY, 60.0)
            lifted = time.time()
            stack.carrier_admin("quota", {"throttle": {HELD_KEY: None}})
            total = PER_AGENCY * len(NAMES)
            wait_until(db, lambda c: sum(c.values()) == total and c.get("requested", 0) == 0
                       and c.get("needs_attention", 0) == 0, 120, "every dossier posted",
                       stack)
            seen = stack.carrier_admin("quota")["accounts"]
            stats = stack.carrier_admin("stats")
        finally:
            accepted = _accepted_at(db)
            db.dispose()
    for key in ("demo-key", HELD_KEY, FREE_KEY):
        assert seen[key]["requests"] > PER_AGENCY, (key, seen[key])
        assert seen[key]["max_per_second"] <= QUOTA, (key, seen[key])
    assert seen[HELD_KEY]["throttled"] >= 1  # it was held ...
    assert seen[FREE_KEY]["throttled"] == 0 and seen["demo-key"]["throttled"] == 0
    assert stats["orders"] == total and stats["repeat_posts"] <= stats["posts"]
    # ... and only it was slowed: the free account posted its dossiers at full speed (one
    # every (1 s + margin) / quota; the slack is its feed polls, about one a second, which
    # share the budget), all while the other was held (`_wait_for` above); the held one's
    # went only after it
    free, held = sorted(accepted[FREE_CODE]), sorted(accepted[HELD_CODE])
    shown = {k: [round(t - lifted, 1) for t in sorted(v)] for k, v in accepted.items()}
    assert free[-1] - free[0] <= (PER_AGENCY - 1) * 1.25 / QUOTA + 2.5, shown
    assert lifted <= held[0], shown
