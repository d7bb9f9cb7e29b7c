"""Benchmark 9 of the performance issue: benchmark 1 with many agencies. 30 agencies share
10 post-office accounts (three agencies an account, half of the accounts on route A, N-GSP,
half on route B, LGSP), each account with its own quota of Q requests/s at the post office
(429 above it) and the same quota in the worker's own limiter; the post office answers in
50 ms; a burst of result-ready hand-offs spread evenly over the agencies.

    python -m bench.many_agencies [--handoffs 3000] [--quota 10] [--phase-s 12]
                                  [--hold-s 12] [--margin 0.2]

Phase 1 (every account free): once the whole burst is in the ledger and every account has
an order accepted, each account's accepted orders per second over `phase_s` against its own
quota. Phase 2, right after in the same run: the post office answers 429 to one account for
`hold_s` seconds (its admin `throttle`, as chaos scenario 13 does); the other accounts'
rates during the hold against their own phase-1 rates, and the held account's busiest
second against its quota. Orders are counted by the ledger's `accepted_at`, requests by
the post office's meter (every request counts against the quota: token requests and the
tracking polls, each account's every second here, as well as the order posts).

Prints the markdown section, then one JSON line. `bench_many_agencies(n)` has the shape of
bench/run.py's benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.burst import base_agencies, burst_world, set_office_quota
from chaos.disk import group_cpu_seconds
from chaos.measure import count_duplicate_orders
from chaos.world import World
from worker.db.models import Handoff
from worker.domain.quota import Budget
from worker.settings import Settings

GOAL_SHARE = 0.9  # of its own quota, every account at once
GOAL_KEEP = 0.9  # of its own phase-1 rate, every account not held


def accounts_for(agencies: int, accounts: int) -> dict[str, dict]:
    """`agencies` agencies (the World's own codes among them, so it holds no others), agency
    k on account k % `accounts`; even accounts on route A, odd on route B; each account its
    own customer code and keys (simulator values), the same in every agency of it."""
    codes = sorted(base_agencies())
    if not max(len(codes), accounts) <= agencies <= len(codes) + 60 or accounts < 1:
        raise ValueError(f"agencies: {len(codes)} to {len(codes) + 60}, and at least one "
                         f"an account")
    codes += [f"000.00.{40 + i:02d}.H19" for i in range(agencies - len(codes))]
    out = {}
    for k, code in enumerate(codes):
        i = k % accounts
        route = "A" if i % 2 == 0 else "B"
        out[code] = {
            "name": f"UBND xã Thử Nghiệm {k + 1:02d}", "tel": f"0277365{k:04d}",
            "email": f"motcua.thunghiem{k + 1:02d}@example.gov.vn",
            "address": f"Trung tâm Phục vụ hành chính công xã Thử Nghiệm {k + 1:02d}",
            "province_code": "82", "ward_code": "30226", "dispatch": "auto", "route": route,
            "customer_code": f"C8{i:03d}",
            "customer_key": f"sim-bench{i:02d}-{'ngsp-key' if route == 'A' else 'lgsp-consumer'}",
            "secret_key": f"sim-bench{i:02d}-secret-for-the-simulator-only",
            "push_secret": f"sim-bench{i:02d}-push-secret-for-the-simulator-only"}
    return out


def _accepted_times(world: World) -> tuple[int, dict[str, list[float]]]:
    """(hand-offs in the ledger, agency code -> epoch seconds of each order accepted)."""
    with world.db().unit_of_work() as s:
        total = int(s.scalar(select(func.count()).select_from(Handoff)) or 0)
        rows = s.execute(select(Handoff.agency_code, Handoff.accepted_at)
                         .where(Handoff.accepted_at.is_not(None))).all()
    out: dict[str, list[float]] = {}
    for code, at in rows:
        if at is not None:
            out.setdefault(code, []).append(at.timestamp())
    return total, out


def _cpu(world: World) -> dict[str, float]:
    """CPU seconds so far of each process group: the stack's processes (a worker with its
    pool), the redis-server, the PostgreSQL cluster, this process."""
    groups = {name: p.pid for name, p in world.stack.procs.items()}
    if world.redis is not None:
        groups["redis"] = world.redis.proc.pid
    if world.pg is not None:  # pg_ctl makes the postmaster a group leader; backends follow
        groups["postgres"] = int((world.pg.data / "postmaster.pid").read_text().split()[0])
    out = {name: group_cpu_seconds(pgid) for name, pgid in groups.items()}
    out["bench"] = sum(os.times()[:2])
    return out


def _cores(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    return {k: round((after[k] - before.get(k, 0.0)) / seconds, 2) for k in after}


def _busiest(times: list[float], start: float, end: float) -> int:
    """The most requests in any sliding second between `start` and `end` (as the meter)."""
    inside = sorted(t for t in times if start <= t < end)
    best = lo = 0
    for hi, t in enumerate(inside):
        while inside[lo] <= t - 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def many_agencies(handoffs: int = 3000, *, quota: float = 10.0, agencies: int = 30,
                  accounts: int = 10, latency_ms: float = 50.0, phase_s: float = 12.0,
                  hold_s: float = 12.0, retry_after: float = 5.0, margin: float | None = None,
                  workers: int = 1, concurrency: int = 2, timeout: float = 120.0,
                  home: Path | None = None) -> dict[str, Any]:
    """Run both phases in one world; the figures."""
    home = home or Path(tempfile.mkdtemp(prefix="bench-agencies-"))
    spec = accounts_for(agencies, accounts)
    env = {} if margin is None else {"HANDOFF_CARRIER_QUOTA_MARGIN_SECONDS": str(margin)}
    margin = (Settings.model_fields["carrier_quota_margin_seconds"].default
              if margin is None else margin)
    by_key: dict[str, dict[str, Any]] = {}
    for code, a in spec.items():
        acc = by_key.setdefault(a["customer_key"], {
            "account": f"{a['route']} {a['customer_code']}", "agencies": []})
        acc["agencies"].append(code)
    held = next(iter(by_key))
    with burst_world(home, quota=quota, latency_ms=latency_ms, workers=workers,
                     concurrency=concurrency, extra_env=env, agencies=spec) as world:
        before = time.time()  # the meter counts from its reset: its times line up with ours
        world.stack.carrier_admin("quota/reset", {})
        origin = (before + time.time()) / 2
        set_office_quota(world, spec, quota)
        seeded = time.time()
        world.seed(handoffs)
        state: dict[str, Any] = {}

        def steady() -> bool:  # the whole burst in the ledger, every account flowing
            state["total"], state["times"] = _accepted_times(world)
            return state["total"] >= handoffs and all(
                any(state["times"].get(c) for c in a["agencies"]) for a in by_key.values())

        if not _wait(steady, timeout):
            raise RuntimeError(f"not steady after {timeout:.0f} s: {state.get('total')} "
                               f"hand-offs in the ledger, accepted per agency "
                               f"{ {k: len(v) for k, v in state.get('times', {}).items()} }")
        p1 = time.time()
        cpu = [_cpu(world)]
        time.sleep(phase_s)
        hold = time.time()
        cpu.append(_cpu(world))
        world.stack.carrier_admin("quota", {"throttle": {
            held: {"seconds": hold_s, "retry_after": retry_after}}})
        time.sleep(max(0.0, hold + hold_s - time.time()))
        end = time.time()
        cpu.append(_cpu(world))
        _wait(lambda: sum(map(len, _accepted_times(world)[1].values())) >= handoffs, timeout)
        finished = time.time()
        _, times = _accepted_times(world)
        meter = world.stack.carrier_admin("quota?times=1")["accounts"]
        carrier = world.stack.carrier_admin("stats")

    def rate(acc: dict[str, Any], start: float, stop: float) -> float:
        n = sum(start <= t < stop for c in acc["agencies"] for t in times.get(c, []))
        return n / (stop - start)

    rows = []
    for key, acc in by_key.items():
        m = meter.get(key, {})
        req = m.get("times", [])
        r1, r2 = rate(acc, p1, hold), rate(acc, hold, end)
        last = max((t for c in acc["agencies"] for t in times.get(c, [])), default=0.0)
        rows.append({
            "account": acc["account"], "agencies": len(acc["agencies"]), "held": key == held,
            "orders": sum(len(times.get(c, [])) for c in acc["agencies"]),
            "p1_orders_per_s": round(r1, 2), "p1_share": round(r1 / quota, 3),
            "p1_requests_per_s": round(sum(p1 - origin <= t < hold - origin for t in req)
                                       / (hold - p1), 2),
            "busiest_second": m.get("max_per_second", 0), "answered_429": m.get("throttled", 0),
            "early": m.get("early", 0),
            "hold_orders_per_s": round(r2, 2), "hold_ratio": round(r2 / r1, 3) if r1 else None,
            "hold_busiest_second": _busiest(req, hold - origin, end - origin),
            "backlogged_through_hold": last >= end})
    others = [r for r in rows if not r["held"]]
    held_row = next(r for r in rows if r["held"])
    return {
        "handoffs": handoffs, "accepted": sum(r["orders"] for r in rows),
        "agencies": agencies, "accounts": accounts, "quota": quota, "latency_ms": latency_ms,
        "margin": margin,
        "spacing_ceiling": round(1 / (Budget.of(quota, margin).interval * quota), 3),
        "steady_after_s": round(p1 - seeded, 1), "phase_s": round(hold - p1, 1),
        "hold_s": round(end - hold, 1), "retry_after": retry_after,
        "drained_after_hold_s": round(finished - end, 1), "rows": rows,
        "min_share": min(r["p1_share"] for r in rows),
        "min_keep": min((r["hold_ratio"] or 0.0) for r in others),
        "held_busiest_second": held_row["busiest_second"],
        "held_answered_429": held_row["answered_429"],
        "others_answered_429": sum(r["answered_429"] for r in others),
        "duplicate_orders": count_duplicate_orders(carrier["orders_by_number"]),
        "cpu_phase1_cores": _cores(cpu[0], cpu[1], hold - p1),
        "cpu_hold_cores": _cores(cpu[1], cpu[2], end - hold),
        "workers": workers, "concurrency": concurrency,
    }


def section(r: dict[str, Any]) -> str:
    """The markdown of one run: the two tables, the goals against their figures."""
    q = r["quota"]
    lines = [
        f"{r['accepted']}/{r['handoffs']} hand-offs over {r['agencies']} agencies on "
        f"{r['accounts']} accounts (routes A and B), the post office answering in "
        f"{r['latency_ms']:.0f} ms with a quota of {q:g} requests/s per account (429 above "
        f"it), the worker's limiter set to the same. Phase 1 starts once the burst is all in "
        f"the ledger and every account has an order accepted ({r['steady_after_s']} s after "
        f"the burst) and lasts {r['phase_s']} s; then one account is answered 429 (Retry-After"
        f" {r['retry_after']:g} s) for {r['hold_s']} s (phase 2).", "",
        "| account | agencies | orders (run) | orders/s (phase 1) | share of quota | requests/s "
        "(phase 1) | busiest second (run) | 429s (run) | orders/s (phase 2) | against phase 1 "
        "| busiest second (phase 2) | backlog through phase 2 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in r["rows"]:
        ratio = "—" if x["hold_ratio"] is None else f"{x['hold_ratio']:.2f}"
        lines.append(
            f"| {x['account']}{' (held)' if x['held'] else ''} | {x['agencies']} | "
            f"{x['orders']} | {x['p1_orders_per_s']} | {x['p1_share']:.2f} | "
            f"{x['p1_requests_per_s']} ({x['p1_requests_per_s'] / q:.2f}) | "
            f"{x['busiest_second']} | {x['answered_429']} | {x['hold_orders_per_s']} | {ratio} "
            f"| {x['hold_busiest_second']} | {'yes' if x['backlogged_through_hold'] else 'no'} |")
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in sorted(
        r["cpu_phase1_cores"].items(), key=lambda kv: -kv[1]) if v >= 0.05)
    short = [x["account"] for x in r["rows"] if not x["backlogged_through_hold"]]
    lines += ["", (
        f"Every account at once, phase 1: the lowest share of its own quota **"
        f"{r['min_share']:.2f}** (goal {GOAL_SHARE:.2f}; the limiter's spacing, one second "
        f"plus a margin of {r['margin']:g} s, allows at most {r['spacing_ceiling']:.2f} of it, "
        f"and the tracking polls and token requests share it). The held account: the busiest "
        f"second {r['held_busiest_second']} requests (quota {q:g}), {r['held_answered_429']} "
        f"answered 429; the others during the hold: the lowest rate against its own phase 1 "
        f"**{r['min_keep']:.2f}** (goal {GOAL_KEEP:.2f}), {r['others_answered_429']} answered "
        f"429. Duplicate orders {r['duplicate_orders']}. The held account drained "
        f"{r['drained_after_hold_s']} s after the hold. CPU during phase 1, in cores (of "
        f"{os.cpu_count()}): {cpu}.")]
    if short:
        lines.append(f"Not backlogged through phase 2 (their rate there is no measure: a "
                     f"bigger burst is needed): {', '.join(short)}.")
    return "\n".join(lines)


def bench_many_agencies(n: int) -> tuple[str, dict[str, Any]]:
    """For bench/run.py: benchmark 9 with `n` hand-offs."""
    r = many_agencies(n)
    return section(r), r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--handoffs", type=int, default=3000)
    p.add_argument("--quota", type=float, default=10.0, help="per account, requests/s")
    p.add_argument("--agencies", type=int, default=30)
    p.add_argument("--accounts", type=int, default=10)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--phase-s", type=float, default=12.0)
    p.add_argument("--hold-s", type=float, default=12.0)
    p.add_argument("--margin", type=float, default=None,
                   help="HANDOFF_CARRIER_QUOTA_MARGIN_SECONDS (default: the setting's)")
    p.add_argument("--concurrency", type=int, default=2)
    a = p.parse_args(argv)
    r = many_agencies(a.handoffs, quota=a.quota, agencies=a.agencies, accounts=a.accounts,
                      latency_ms=a.latency_ms, phase_s=a.phase_s, hold_s=a.hold_s,
                      margin=a.margin, concurrency=a.concurrency)
    print(section(r))
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
