"""Expiring tokens and bad input, on real worker processes. A worker SIGKILLed mid-run is
chaos scenario 1 (tests/chaos/test_chaos_short.py in `make test`: pool processes and whole
workers killed and restarted, nothing lost or doubled; `make chaos` at full size)."""

from __future__ import annotations

import math
import time

import pytest
from sqlalchemy import select

from tests.integration.flow import (
    all_final,
    ledger_drained,
    wait_until,
)
from worker.db.engine import Database
from worker.db.models import Cursor, Handoff
from worker.launch.stack import Stack

pytestmark = pytest.mark.spread  # each test starts its own stack


def _db(stack: Stack) -> Database:
    return Database(f"sqlite:///{stack.home / 'handoff.db'}")


def _progressed(n: int):
    return lambda c: sum(v for k, v in c.items() if k not in ("requested",)) >= n


def test_token_is_cached_per_expiry_window_and_a_401_recovers(tmp_path):
    """One token per account and expiry window for the whole machine (the worker's pool
    processes share a token file per account), and one more per account after a revocation."""
    ttl = 4.0
    with Stack(home=tmp_path / "home") as stack:
        db = _db(stack)
        stack.start_simulators()
        stack.carrier_admin("faults", {"token_ttl": ttl})
        stack.migrate()
        started = time.monotonic()  # before any process that could ask for a token
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        stack.onestop_admin("handoffs", {"count": 10, "type": "result_ready"})
        wait_until(db, _progressed(10), 60, "10 hand-offs accepted", stack)
        before_revocation = stack.carrier_admin("stats")["token_requests_by_account"]
        stack.carrier_admin("revoke-tokens", {})  # every token in use becomes a 401
        wait_until(db, all_final(10), 120, "10 hand-offs final", stack)
        elapsed = time.monotonic() - started
        stats = stack.carrier_admin("stats")
        by_account = stats["token_requests_by_account"]
        # the post office's own record, per customer key: whatever the machine's pool size
        # or the number of accounts the example agencies use, each account fetches at most
        # once per window (a token is used until 90 % of its life) plus once for the 401
        windows = math.ceil(elapsed / (ttl * 0.9)) + 1
        own = {a.split(":", 1)[0] for a in stack.sim_accounts()}
        assert own and own < set(by_account), by_account  # the own accounts and the default
        assert all(n <= windows + 1 for n in by_account.values()), (by_account, windows)
        # after the revocation every account asked again, and the hand-offs went on
        assert all(by_account[k] > before_revocation.get(k, 0) for k in by_account), by_account
        assert stats["orders"] == 10 and stats["duplicates"] == 0


def test_bad_items_are_recorded_for_a_person_and_never_posted(tmp_path):
    with Stack(home=tmp_path / "home") as stack:
        db = _db(stack)
        stack.start_all()
        stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
        seeded = stack.onestop_admin("handoffs", {"count": 8, "type": "result_ready",
                                                  "invalid": 4})
        wait_until(db, lambda c: c.get("needs_attention", 0) == 4 and c.get("delivered") == 4,
                   120, "4 delivered and 4 needing attention", stack)
        assert stack.carrier_admin("stats")["orders"] == 4
        with db.unit_of_work() as s:
            reasons = [h.status_reason for h in s.scalars(
                select(Handoff).where(Handoff.status == "needs_attention"))]
            cursor = s.get(Cursor, "onestop-handoffs")
        fields = ("citizen.phone", "citizen.wardCode", "dossierCode", "codAmount")
        assert sorted(f for f in fields for r in reasons if r.startswith(f)) == sorted(fields)
        assert cursor is not None and cursor.value  # the cursor went past the bad items
        # the one-stop is told what to fix (not for the broken dossier code: it can't be named)
        ledger_drained(db, 60, stack)
        told = [e for e in stack.onestop_admin("events")["events"]
                if e["status"] == "needs_attention"]
        assert len(told) == 3 and all(e["note"] for e in told)
        assert stack.procs["worker"].poll() is None  # the worker is still up
        # personal data never reaches our logs (the simulators are the other systems)
        logs = "".join((stack.home / f"{n}.log").read_text(errors="replace")
                       for n in ("worker", "beat", "web"))
        for item in seeded["items"]:
            citizen = item.get("citizen") or {}
            for value in (citizen.get("name"), citizen.get("phone"), citizen.get("address")):
                if isinstance(value, str) and len(value) > 4:
                    assert value not in logs
