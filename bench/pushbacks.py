"""Benchmark 4 of the performance issue, as the flow makes it: N result-ready hand-offs go
through the whole path with the post office's clock sped up (each parcel picked up,
carried and delivered within seconds, so every hand-off has about six statuses to tell the
one-stop), and the one-stop simulator answering at once. Measured at the one-stop, from
its own record of what arrived: push-backs per second (over the run, and in its busiest
second), statuses sent twice (the same eventId again), statuses that arrived out of order
(a hand-off's status of lower rank after a higher one, `late` events and the repeatable
side paths left out), and how long the one-stop waited to hear "accepted" after the post
office accepted an order, while the orders were still being posted (the accounts at the
deployment's default quota pace them). The rate over the run counts from the first
push-back, which comes while the orders are still paced by the quota; the rate after the
last order accepted is the push-backs' own pace, and beside it the cores each part of the
deployment used over that stretch (bench/cpu_roles.py).

    python -m bench.pushbacks --handoffs 1000 [--naive]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.cpu_roles import CpuByRole
from chaos.measure import count_duplicate_pushbacks
from chaos.world import World
from worker.db.models import Handoff, Job
from worker.domain.enums import JobKind, JobState
from worker.domain.statuses import RANK, REPEATABLE, Status

NAIVE = {"HANDOFF_JOB_BATCH": "1", "HANDOFF_JOB_THREADS": "1"}


def out_of_order(events: list[dict]) -> int:
    """Events of a hand-off whose status ranks below one told before it (not late, not a
    repeatable side path), in the order the one-stop received them."""
    best: dict[str, int] = {}
    wrong = 0
    for e in events:
        try:
            status = Status(e["status"])
        except ValueError:  # a postal event, not a status
            continue
        if e.get("late") or status in REPEATABLE:
            continue
        rank = RANK[status]
        if rank < best.get(e["dossierCode"], -1):
            wrong += 1
        best[e["dossierCode"]] = max(rank, best.get(e["dossierCode"], -1))
    return wrong


def accepted_times(world: World) -> dict[str, datetime]:
    """When the worker settled the post office's acceptance of each hand-off's order (its
    post's row done), by dossier code. Not the hand-off's `accepted_at`: where the
    carrier's feed told the pick-up before the post's answer was settled, that is the
    pick-up's time, on the post office's sped-up clock."""
    with world.db().unit_of_work() as s:
        return dict(s.execute(select(Handoff.dossier_code, Job.done_at).join(
            Job, Job.handoff_id == Handoff.id).where(
            Job.kind == JobKind.POST_ORDER, Job.state == JobState.DONE,
            Job.done_at.is_not(None))).all())


def heard_accepted(accepted: dict[str, datetime], events: list[dict]) -> dict[str, Any]:
    """From each order accepted by the post office to the one-stop hearing "accepted" of its
    hand-off: p50 and p99 in seconds, and how many the one-stop heard before the last order
    was accepted (0: the push-backs waited for the whole backlog of orders)."""
    heard: dict[str, datetime] = {}
    for e in events:
        if e["status"] == Status.ACCEPTED.value and e["dossierCode"] not in heard:
            heard[e["dossierCode"]] = datetime.fromisoformat(e["receivedAt"])
    waits = sorted((heard[c] - at).total_seconds() for c, at in accepted.items() if c in heard)
    last_order = max(accepted.values(), default=None)
    return {
        "heard_accepted_p50_s": round(waits[len(waits) // 2], 2) if waits else None,
        "heard_accepted_p99_s": round(waits[int(len(waits) * 0.99)], 2) if waits else None,
        "orders_s": round((last_order - min(accepted.values())).total_seconds(), 1)
        if last_order else 0.0,
        "heard_before_last_order": sum(1 for t in heard.values()
                                       if last_order and t < last_order),
    }


def rate_after(arrived: list[datetime], since: datetime | None) -> float:
    """Push-backs per second from `since` (the last order accepted) to the last push-back:
    the push-backs' own pace once no post shares the worker with them."""
    after = [t for t in arrived if since is None or t >= since]
    span = (after[-1] - (since or after[0])).total_seconds() if after else 0.0
    return round(len(after) / span, 1) if span > 0 else 0.0


def pushbacks(handoffs: int, *, extra_env: dict[str, str] | None = None,
              timeout: float = 1800.0) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-push-"))
    env = {"HANDOFF_POLL_ONESTOP_EVERY": "1", "HANDOFF_POLL_CARRIER_EVERY": "1",
           **(extra_env or {})}
    with World(home, extra_env=env) as world:
        world.start()
        world.stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
        with CpuByRole(world) as cpu:
            codes = world.seed(handoffs)
            started = time.monotonic()
            world.wait_all_final(codes, timeout=timeout)
            world.wait_drained(60, cap_s=timeout)
            took = time.monotonic() - started
        to_monotonic = time.monotonic() - time.time()  # (a wall time as a reading's time)
        events = world.stack.onestop_admin("events")["events"]
        stats = world.stack.onestop_admin("stats")
        accepted = accepted_times(world)
    arrived = sorted(datetime.fromisoformat(e["receivedAt"]) for e in events)
    span = (arrived[-1] - arrived[0]).total_seconds() if len(arrived) > 1 else 0.0
    per_second = Counter(int((t - arrived[0]).total_seconds()) for t in arrived)
    last_order = max(accepted.values(), default=None)
    # who was on the cores from the last order accepted to the last push-back: the
    # push-backs' own stretch (bench/cpu_roles.py)
    cores = cpu.cores(last_order.timestamp() + to_monotonic,
                      arrived[-1].timestamp() + to_monotonic) if last_order and arrived else {}
    per_dossier: dict[str, int] = defaultdict(int)
    for e in events:
        per_dossier[e["dossierCode"]] += 1
    return {
        "handoffs": handoffs, "pushes": len(events), "seconds": round(took, 1),
        "push_span_s": round(span, 1), "rate": round(len(events) / span, 1) if span else 0.0,
        "busiest_second": max(per_second.values(), default=0),
        "per_handoff": round(len(events) / max(len(per_dossier), 1), 2),
        "sent_twice": int(stats.get("duplicate_deliveries", 0)),
        "duplicate_pushbacks": count_duplicate_pushbacks(events),
        "rate_after_orders": rate_after(arrived, last_order), "cpu_cores_after_orders": cores,
        "out_of_order": out_of_order(events), **heard_accepted(accepted, events),
        "design": "naive" if extra_env else "shipped",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--handoffs", type=int, default=1000)
    p.add_argument("--naive", action="store_true", help="HANDOFF_JOB_BATCH=1, THREADS=1")
    a = p.parse_args(argv)
    print(json.dumps(pushbacks(a.handoffs, extra_env=NAIVE if a.naive else None)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
