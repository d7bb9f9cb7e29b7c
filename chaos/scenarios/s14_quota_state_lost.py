"""14. Quota state lost: Redis flushed (FLUSHALL) while three workers post at the quota: no
second ever holds more requests of an account than its quota at the post office afterwards;
the work carries on by itself; nothing lost or done twice.

Every account (the shared default one and the agencies' own) gets a small quota, and enough
hand-offs that each account has requests waiting for their slots when Redis is flushed: the
bucket's state (each account's last slot) is gone, while the requests already granted a slot
still go at it. The post office's meter (the carrier simulator's /_admin/quota, arrival times
per account) judges: every one-second window that ends at an arrival after the flush holds
at most the quota. Time to recover: from the flush to the next progress (a status-log row or
a finished ledger row); a flush also empties the broker (its queue and kombu's bindings).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from chaos import measure
from chaos.measure import Row, Scenario
from chaos.world import EXTRA_AGENCY, World
from worker.db.engine import Database
from worker.db.models import Handoff
from worker.launch.stack import EXAMPLE_AGENCIES

NAME = "Quota state lost (Redis flushed)"
QUOTA = 2  # requests per second per account
ENV = {"HANDOFF_CARRIER_QUOTA_PER_SECOND": str(QUOTA),  # the shared default account's
       # three workers, the simulator and the store share a small machine: room for the
       # jitter between a request's slot and its arrival (as tests/integration/test_quota*)
       "HANDOFF_CARRIER_QUOTA_MARGIN_SECONDS": "0.25",
       "HANDOFF_WORKER_CONCURRENCY": "3"}


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, flushes = int(size["handoffs"]), int(size["flushes"])
    agencies = {**json.loads(EXAMPLE_AGENCIES.read_text(encoding="utf-8")), **EXTRA_AGENCY}
    own = {code: {**entry, "quota_per_second": QUOTA} for code, entry in agencies.items()
           if entry.get("customer_code")}
    with world_factory(workers=3, extra_env=ENV, extra_agencies=own) as world:
        world.start()
        world.stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
        db = world.db()
        codes = world.seed(n)
        last_before: list[dict[str, float]] = []  # per flush: account -> last arrival before
        recoveries: list[float | None] = []
        for i in range(flushes):
            # flush while posts are still queued: after 1/(flushes+1) of them went, etc.
            target = n * (i + 1) // (flushes + 2)
            measure.time_until(partial(_reached, db, target), 300)
            before = _times(world)
            world.redis.flushall()
            last_before.append({k: v[-1] for k, v in before.items() if v})
            recoveries.append(measure.seconds_until_progress(db, 120))
        exited = world.exited()
        try:
            world.wait_all_final(codes, timeout=max(180, n * 1.5))
            world.wait_drained(60)
            stalled = ""
        except AssertionError as exc:
            stalled = str(exc)[:600]
        times = _times(world)
        first = last_before[0] if last_before else {}
        over_before = {k: _busiest(v, -1e18, first.get(k, 1e18))[0] for k, v in times.items()}
        over_after = {k: _busiest(v, first.get(k, 1e18), 1e18) for k, v in times.items()
                      if k in first}
        worst = max((r if r is not None else float("inf") for r in recoveries), default=None)
        row = world.verdict(NAME, codes, None if worst == float("inf") else worst, notes=(
            f"{flushes} FLUSHALL while 3 workers post at {QUOTA}/s per account; most "
            f"requests in one second at the post office, per account, before the first "
            f"flush {_fmt(over_before)}, after it {_fmt({k: v[0] for k, v in over_after.items()})}"
            f"; progress after each flush [{', '.join(_s(r) for r in recoveries)}] s"))
        failures = []
        burst = {k: v for k, v in over_after.items() if v[0] > QUOTA}
        if burst:
            failures.append("after a flush an account got more than its quota of "
                            f"{QUOTA}/s at the post office: " + "; ".join(
                                f"{k} {c} requests in the second ending at +{t:.2f} s"
                                for k, (c, t) in sorted(burst.items())))
        if any(r is None for r in recoveries):
            failures.append("no progress within 120 s of a flush")
        if stalled:
            failures.append(f"the work did not complete: {stalled}")
        if exited:
            failures.append(f"processes exited (exit codes): {exited}")
        return row.fail(failures)


def _reached(db: Database, count: int) -> bool:
    return _dispatched(db) >= count


def _dispatched(db: Database) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Handoff).where(
            Handoff.accepted_at.is_not(None))) or 0)


def _times(world: World) -> dict[str, list[float]]:
    """Arrival times per account (the simulator's clock), sorted."""
    accounts = world.stack.carrier_admin("quota?times=1")["accounts"]
    return {k: sorted(a.get("times", [])) for k, a in accounts.items() if k != "?"}


def _busiest(times: list[float], after: float, until: float) -> tuple[int, float]:
    """(most arrivals in a one-second window ending at an arrival in (after, until], how
    long after `after` that window ended), windows counted over every arrival."""
    best, at = 0, 0.0
    for t in times:
        if after < t <= until:
            count = bisect_left(times, t + 1e-9) - bisect_left(times, t - 1.0 + 1e-9)
            if count > best:
                best, at = count, t - after
    return best, at


def _fmt(per_account: dict[str, int]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(per_account.items())) + "}"


def _s(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f}"


SCENARIO = Scenario(number=14, name=NAME, full={"handoffs": 400, "flushes": 3},
                    short={"handoffs": 80, "flushes": 1}, run=run)
