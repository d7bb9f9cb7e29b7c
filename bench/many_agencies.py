"""Benchmark 9 of the performance issue: benchmark 1 with many agencies. 30 agencies share
10 post-office accounts (three agencies an account, half of the accounts on route A, N-GSP,
half on route B, LGSP), each account with its own quota of Q requests/s at the post office
(429 above it) and the same quota in the worker's own limiter; the post office answers in
50 ms; a burst of result-ready hand-offs spread evenly over the agencies.

    python -m bench.many_agencies [--handoffs 3000] [--quota 10] [--phase-s 15]
                                  [--hold-s 15] [--margin 0.2] [--poll-carrier-every S]
                                  [--control]

Phase 1 (every account free): once the whole burst is in the ledger and every account has
an order accepted, each account's accepted orders per second over `phase_s` against its own
quota. Phase 2, right after in the same run: the post office answers 429 to one account for
`hold_s` seconds (its admin `throttle`, as chaos scenario 13 does); phase 3: as long again
after the hold. The other accounts' rates in phases 2 and 3 against their own phase 1, and
the held account's busiest second against its quota. `--control`: the same windows, nobody
held. Orders are counted by the ledger's `accepted_at`, requests by the post office's meter
(every request counts against the quota: token requests, tracking polls, order posts). The
tracking feeds are polled every 60 s (the setting's default) unless told: the Stack's every
second would spend a tenth of a 10/s quota, and a pool process, on the polls.

Prints the markdown section, then one JSON line. `bench_many_agencies(n)` has the shape of
bench/run.py's benchmarks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.burst import base_agencies, burst_world, set_office_quota
from bench.cpu_roles import CpuByRole, cpu_text
from chaos.measure import count_duplicate_orders, time_until
from chaos.world import World
from tests.quota_windows import max_in_window
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


def _busiest(times: list[float], start: float, end: float) -> int:
    """The most requests in any sliding second between `start` and `end` (as the meter)."""
    return max_in_window([t for t in times if start <= t < end])


def many_agencies(handoffs: int = 3000, *, quota: float = 10.0, agencies: int = 30,
                  accounts: int = 10, latency_ms: float = 50.0, phase_s: float = 15.0,
                  hold_s: float = 15.0, retry_after: float = 5.0, margin: float | None = None,
                  poll_carrier_every: float | None = 60.0, control: bool = False,
                  workers: int = 1, concurrency: int = 2, timeout: float = 120.0,
                  home: Path | None = None) -> dict[str, Any]:
    """Run the phases in one world; the figures. `control`: no account held (the same
    windows: how far the rates move from one window to the next without a hold)."""
    home = home or Path(tempfile.mkdtemp(prefix="bench-agencies-"))
    spec = accounts_for(agencies, accounts)
    env = {} if margin is None else {"HANDOFF_CARRIER_QUOTA_MARGIN_SECONDS": str(margin)}
    if poll_carrier_every is not None:  # None: the Stack's, every second (chaos/FAST)
        env["HANDOFF_POLL_CARRIER_EVERY"] = str(poll_carrier_every)
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

        if time_until(steady, timeout, every=0.5) is None:
            raise RuntimeError(f"not steady after {timeout:.0f} s: {state.get('total')} "
                               f"hand-offs in the ledger, accepted per agency "
                               f"{ {k: len(v) for k, v in state.get('times', {}).items()} }")
        marks = [time.time()]  # phase 1, the hold, as long again after it: their bounds
        with CpuByRole(world) as cpu:  # who was on the cores in each phase
            for i, seconds in enumerate((phase_s, hold_s, hold_s)):
                if i == 1 and not control:
                    world.stack.carrier_admin("quota", {"throttle": {
                        held: {"seconds": hold_s, "retry_after": retry_after}}})
                time.sleep(max(0.0, marks[-1] + seconds - time.time()))
                marks.append(time.time())
        to_monotonic = time.monotonic() - time.time()  # (a wall time as a reading's time)
        drained = time_until(
            lambda: sum(map(len, _accepted_times(world)[1].values())) >= handoffs,
            timeout, every=0.5) is not None
        finished = time.time()
        _, times = _accepted_times(world)
        meter = world.stack.carrier_admin("quota?times=1")["accounts"]
        carrier = world.stack.carrier_admin("stats")
    windows = list(zip(marks, marks[1:], strict=False))  # (start, stop) of each phase

    rows = []
    for key, acc in by_key.items():
        m = meter.get(key, {})
        req = m.get("times", [])
        mine = [t for c in acc["agencies"] for t in times.get(c, [])]
        rates = [sum(a <= t < b for t in mine) / (b - a) for a, b in windows]
        rows.append({
            "account": acc["account"], "agencies": len(acc["agencies"]), "held": key == held,
            "orders": len(mine), "orders_per_s": [round(r, 2) for r in rates],
            "p1_share": round(rates[0] / quota, 3),
            "against_p1": [round(r / rates[0], 3) if rates[0] else None for r in rates[1:]],
            "p1_requests_per_s": round(sum(marks[0] - origin <= t < marks[1] - origin
                                           for t in req) / (marks[1] - marks[0]), 2),
            "busiest_second": m.get("max_per_second", 0), "answered_429": m.get("throttled", 0),
            "early": m.get("early", 0),
            "busiest_second_by_phase": [_busiest(req, a - origin, b - origin)
                                        for a, b in windows],
            "backlogged_to_the_end": max(mine, default=0.0) >= marks[-1]})
    others = [r for r in rows if not r["held"]]
    held_row = next(r for r in rows if r["held"])
    return {
        "handoffs": handoffs, "accepted": sum(r["orders"] for r in rows),
        "agencies": agencies, "accounts": accounts, "quota": quota, "latency_ms": latency_ms,
        "margin": margin,
        # the limiter's most: `count` a window (domain/quota.py)
        "spacing_ceiling": round(1 / (Budget.of(quota, margin).interval * quota), 3),
        "steady_after_s": round(marks[0] - seeded, 1),
        "phases_s": [round(b - a, 1) for a, b in windows], "retry_after": retry_after,
        "drained_after_s": round(finished - marks[-1], 1) if drained else None, "rows": rows,
        # orders accepted in each 2 s since the burst went in (all accounts)
        "timeline_2s": [sum(seeded + b <= t < seeded + b + 2 for v in times.values() for t in v)
                        for b in range(0, int(finished - seeded) + 2, 2)],
        "min_share": min(r["p1_share"] for r in rows),
        "p1_orders_per_s_total": round(sum(r["orders_per_s"][0] for r in rows), 1),
        "min_keep": [min((r["against_p1"][i] or 0.0) for r in others) for i in (0, 1)],
        "held_busiest_second": held_row["busiest_second"],
        "held_answered_429": held_row["answered_429"],
        "others_answered_429": sum(r["answered_429"] for r in others),
        "duplicate_orders": count_duplicate_orders(carrier["orders_by_number"]),
        "cpu_cores_by_phase": [cpu.cores(t0 + to_monotonic, t1 + to_monotonic)
                               for t0, t1 in windows],
        "workers": workers, "concurrency": concurrency,
        "poll_carrier_every": poll_carrier_every, "control": control,
    }


def section(r: dict[str, Any]) -> str:
    """The markdown of one run: the table, the goals against their figures."""
    q = r["quota"]
    p1, hold, _ = r["phases_s"]
    lines = [
        f"{r['accepted']}/{r['handoffs']} hand-offs over {r['agencies']} agencies on "
        f"{r['accounts']} accounts (routes A and B), the post office answering in "
        f"{r['latency_ms']:.0f} ms with a quota of {q:g} requests/s per account (429 above "
        f"it), the worker's limiter set to the same; each account's tracking feed polled "
        f"every {r['poll_carrier_every'] or 1:g} s. Phase 1 starts once the burst is all in "
        f"the ledger and every account has an order accepted ({r['steady_after_s']} s after "
        f"the burst) and lasts {p1} s; then one account is answered 429 (Retry-After "
        f"{r['retry_after']:g} s) for {hold} s (phase 2), and phase 3 is as long again after "
        f"the hold. Orders/s per phase, against the account's own phase 1 in brackets."
        + (" **Control run: no account held** (the '(held)' account is not held)."
           if r["control"] else ""), "",
        "| account | agencies | orders | phase 1 orders/s | share of quota | phase 1 requests/s"
        " (share) | busiest second (run) | 429s | phase 2 orders/s | phase 3 orders/s | "
        "busiest second in phases 2, 3 | backlog to the end of phase 3 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in r["rows"]:
        later = [f"{v} ({'—' if k is None else f'{k:.2f}'})"
                 for v, k in zip(x["orders_per_s"][1:], x["against_p1"], strict=True)]
        lines.append(
            f"| {x['account']}{' (held)' if x['held'] else ''} | {x['agencies']} | "
            f"{x['orders']} | {x['orders_per_s'][0]} | {x['p1_share']:.2f} | "
            f"{x['p1_requests_per_s']} ({x['p1_requests_per_s'] / q:.2f}) | "
            f"{x['busiest_second']} | {x['answered_429']} | {later[0]} | {later[1]} | "
            f"{x['busiest_second_by_phase'][1]}, {x['busiest_second_by_phase'][2]} | "
            f"{'yes' if x['backlogged_to_the_end'] else 'no'} |")
    short = [x["account"] for x in r["rows"] if not x["backlogged_to_the_end"]]
    keep = r["min_keep"]
    lines += ["", (
        f"Every account at once, phase 1: {r['p1_orders_per_s_total']} orders/s together, "
        f"{r['p1_orders_per_s_total'] / (q * r['accounts']):.2f} of the quotas together; "
        f"the lowest share of one account's own quota **{r['min_share']:.2f}** (goal "
        f"{GOAL_SHARE:.2f}; the limiter's window, one second plus a margin of {r['margin']:g}"
        f" s, allows at most {r['spacing_ceiling']:.2f} of it, and the tracking polls and "
        f"token requests share it). The held account: its busiest second "
        f"{r['held_busiest_second']} requests (quota {q:g}), {r['held_answered_429']} "
        f"answered 429. The other accounts, the lowest rate against its own phase 1: **"
        f"{keep[0]:.2f}** during the "
        f"hold, **{keep[1]:.2f}** after it (goal {GOAL_KEEP:.2f}); {r['others_answered_429']}"
        f" answered 429. Duplicate orders {r['duplicate_orders']}. "
        + (f"The last order accepted {r['drained_after_s']} s after phase 3. "
           if r["drained_after_s"] is not None
           else "Not every order was accepted within the run's time limit. ")
        + f"Cores in use in phase 1 (bench/cpu_roles.py): "
        f"{cpu_text(r['cpu_cores_by_phase'][0])}.")]
    lines.append(f"Orders accepted in each 2 s from the burst: {r['timeline_2s']}.")
    if short:
        lines.append(f"Not backlogged to the end of phase 3 (their rates there measure no "
                     f"limit: a bigger burst is needed): {', '.join(short)}.")
    return "\n".join(lines)


def bench_many_agencies(n: int) -> tuple[str, dict[str, Any]]:
    """For bench/run.py: benchmark 9 with max(n, 5000) hand-offs (fewer leave no backlog
    through phase 3 at a quota of 10/s: 3000 did not once the limiter caught up on unused
    slots), then the control run: the rates move from one window to the next without a hold
    too (the ledger's rings come in waves), so the hold's own effect is its ratio against
    the control's."""
    held, control = many_agencies(max(n, 5000)), many_agencies(max(n, 5000), control=True)
    own = [h / c if c else 0.0 for h, c in zip(held["min_keep"], control["min_keep"],
                                                strict=True)]
    return (f"{section(held)}\n\nControl run, the same windows with no account held: the "
            f"lowest rate against phase 1 **{control['min_keep'][0]:.2f}** in phase 2, **"
            f"{control['min_keep'][1]:.2f}** in phase 3; phase 1 {control['min_share']:.2f} of "
            f"each quota at the lowest. The hold's own effect on the other accounts (held "
            f"run against control): **{own[0]:.2f}** during the hold, **{own[1]:.2f}** after "
            f"it."), {"held": held, "control": control}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--handoffs", type=int, default=3000)
    p.add_argument("--quota", type=float, default=10.0, help="per account, requests/s")
    p.add_argument("--agencies", type=int, default=30)
    p.add_argument("--accounts", type=int, default=10)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--phase-s", type=float, default=15.0)
    p.add_argument("--hold-s", type=float, default=15.0)
    p.add_argument("--margin", type=float, default=None,
                   help="HANDOFF_CARRIER_QUOTA_MARGIN_SECONDS (default: the setting's)")
    p.add_argument("--poll-carrier-every", type=float, default=60.0,
                   help="HANDOFF_POLL_CARRIER_EVERY; 0: the Stack's, every second")
    p.add_argument("--control", action="store_true", help="the same windows, no hold")
    p.add_argument("--concurrency", type=int, default=2)
    a = p.parse_args(argv)
    r = many_agencies(a.handoffs, quota=a.quota, agencies=a.agencies, accounts=a.accounts,
                      latency_ms=a.latency_ms, phase_s=a.phase_s, hold_s=a.hold_s,
                      margin=a.margin, poll_carrier_every=a.poll_carrier_every or None,
                      control=a.control, concurrency=a.concurrency)
    print(section(r))
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
