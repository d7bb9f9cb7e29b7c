"""`make bench`: the performance issue's benchmarks, each figure a ratio against a baseline
or a bound measured in the same run, written with the commands and the machine to
bench/RESULTS.md.

    python -m bench.run [--size N] [--out bench/RESULTS.md] [--only burst,ceiling,...]

- burst: benchmark 2, a burst of result-ready hand-offs with no quota anywhere, from the
  one-stop feed to "accepted by the post office", on Redis + PostgreSQL: the naive design
  (one message and one task per row, a prefork pool of 2: HANDOFF_JOB_BATCH=1,
  HANDOFF_JOB_THREADS=1) against the shipped one, with a post office that answers at once
  and one that takes 50 ms; the shipped one on the embedded default; the peak memory of
  every worker process (benchmark 7);
- ceiling: Celery's own no-op dispatch rate on the same kind of broker and pool;
- scaling: benchmark 8, the shipped design at 1, 2 and 4 pool processes;
- quota: benchmark 1, every agency on one account, the post office answering in 50 ms with
  a quota of 200 requests/s (429 above it): orders accepted per second against that quota;
- push: benchmark 4, the push-backs of N/2 hand-offs through the whole flow with the post
  office's clock sped up: rate, sent twice, out of order (bench/pushbacks.py);
- ops: benchmark 6, the ops queries on 1,000,000 log events (bench/ops_queries.py);
- feed: benchmark 5, a backlog of tracking events applied by the feed's poll, then the
  push-backs it queued drained for a window (bench/tracking_feed.py);
- agencies: benchmark 9, 30 agencies on 10 accounts over both routes, each account with
  its own quota, one of them held with 429s, against a control run (bench/many_agencies.py);
- latency: benchmark 3, hand-offs at a steady 100/s (the goal's rate) and 20/s (below
  what the worker takes), half by the feed only and half by webhook too: p50 and p99 from
  appearing to the order accepted, against the goals (bench/latency.py);
- broker: the embedded broker's idle look after many messages, kombu's SQLAlchemy transport
  as shipped against ours (bench/broker_growth.py);
- demo: benchmark 7's second half, `handoff demo` whole: the peak of its process tree's
  proportional memory (PSS) against the 400 MB goal (bench/demo_memory.py);
- rounds: statements sent to PostgreSQL per one-stop item taken, per post and push-back
  run (bell messages of HANDOFF_JOB_BATCH rows against one row a message) and per tracking event
  applied (bench/round_trips.py): the worker's own round trips, counted.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.burst import burst
from bench.celery_ceiling import ceiling
from bench.cpu_roles import busy_cell, cpu_text
from bench.demo_memory import demo_memory
from bench.demo_memory import report as demo_memory_report
from bench.latency import latency as steady_latency
from bench.latency import report as latency_report
from bench.many_agencies import bench_many_agencies
from bench.pushbacks import pushbacks
from bench.round_trips import measure as count_round_trips
from bench.round_trips import report as round_trips_report
from bench.tracking_feed import report as tracking_feed_report
from bench.tracking_feed import tracking_feed
from chaos.__main__ import machine  # the same description as bench/CHAOS.md's
from worker.settings import Settings

NAIVE = {"HANDOFF_JOB_BATCH": "1", "HANDOFF_JOB_THREADS": "1"}


def _peak(result: dict[str, Any]) -> float:
    return max(result["peak_rss_mb"].values(), default=0.0)


def bench_burst(n: int) -> tuple[str, dict[str, Any]]:
    runs = {
        ("naive", 0): burst(n, extra_env=NAIVE),
        ("shipped", 0): burst(n),
        ("naive", 50): burst(n, latency_ms=50, extra_env=NAIVE),
        ("shipped", 50): burst(n, latency_ms=50),
        ("embedded", 0): burst(n, backend="embedded"),
    }
    names = {"naive": "naive: one task per row, one row at a time, prefork 2 (the shipped "
                      "code with HANDOFF_JOB_BATCH=1 HANDOFF_JOB_THREADS=1)",
             "shipped": "shipped: 64 rows a message on 10 threads, prefork 2",
             "embedded": "shipped, embedded default (SQLite, no server)"}
    lines = ["| design | post office answers in | backend | hand-offs | seconds | first order "
             "after | orders/s (flowing) | orders/s (whole run) | duplicate orders | peak RSS "
             "per worker process | cores in use while flowing (pool processes) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (name, latency), r in runs.items():
        lines.append(f"| {names[name]} | {latency} ms | {r['backend']} | {r['accepted']}/"
                     f"{r['handoffs']} | {r['seconds']} | {r['first_accepted_s']} s | "
                     f"{r['flowing_rate']} | {r['rate']} | {r['duplicate_orders']} | "
                     f"{_peak(r):.0f} MB | {busy_cell(r.get('cpu_cores', {}))} |")
    ratio0 = runs[("shipped", 0)]["flowing_rate"] / max(runs[("naive", 0)]["flowing_rate"], .1)
    ratio50 = (runs[("shipped", 50)]["flowing_rate"]
               / max(runs[("naive", 50)]["flowing_rate"], .1))
    shipped, embedded = runs[("shipped", 0)], runs[("embedded", 0)]
    peak = max(_peak(r) for r in runs.values())
    lines += ["", f"Shipped against naive, same run: **{ratio0:.2f} ×** with a post office "
              f"that answers at once, **{ratio50:.2f} ×** when it takes 50 ms (goal 20 ×). "
              f"Redis + PostgreSQL: {shipped['flowing_rate']} hand-offs/s (goal 1,000/s: "
              f"{shipped['flowing_rate'] / 1000:.2f} of it); embedded default: "
              f"{embedded['flowing_rate']}/s (goal 100/s: {embedded['flowing_rate'] / 100:.2f} "
              f"of it). Peak memory of one worker process over these runs: {peak:.0f} MB "
              f"(goal 150 MB: {peak / 150:.2f} of it).", "",
              f"Who was on the cores while the shipped design's orders flowed (Redis + "
              f"PostgreSQL, answers at once; bench/cpu_roles.py): "
              f"{cpu_text(shipped.get('cpu_cores', {}))}."]
    return "\n".join(lines), {f"{k[0]}@{k[1]}ms": v for k, v in runs.items()}


def bench_ceiling(n: int) -> tuple[str, dict[str, Any]]:
    r = ceiling(max(2000, n * 2))
    return (f"Celery's no-op task, {r['messages']} messages, prefork 2, acks late, prefetch 1, "
            f"its own redis-server: **{r['rate']} messages/s** (publishing took "
            f"{r['publish_seconds']} s of {r['seconds']} s). A design that rings one message "
            f"per hand-off cannot pass this on this machine."), r


def bench_scaling(n: int) -> tuple[str, dict[str, Any]]:
    runs = {c: burst(n, concurrency=c) for c in (1, 2, 4)}
    base = runs[1]["flowing_rate"] or 0.1
    lines = ["| pool processes | orders/s (flowing) | against 1 process | peak RSS per process "
             "| cores in use while flowing (pool processes) |", "|---|---|---|---|---|"]
    for c, r in runs.items():
        lines.append(f"| {c} | {r['flowing_rate']} | {r['flowing_rate'] / base:.2f} × | "
                     f"{_peak(r):.0f} MB | {busy_cell(r.get('cpu_cores', {}))} |")
    return "\n".join(lines), {str(c): r for c, r in runs.items()}


def bench_quota(n: int) -> tuple[str, dict[str, Any]]:
    quota = 200.0
    n = max(n, 10_000)  # the burst: about a minute at the quota
    r = burst(n, quota=quota, office_quota=quota, latency_ms=50, one_account=True)
    most = max((v or 0 for v in r["max_per_second"].values()), default=0)
    margin = Settings().carrier_quota_margin_seconds
    cap = math.floor(quota) / (1.0 + margin)  # the limiter's window (domain/quota.py)
    return (f"{r['accepted']}/{r['handoffs']} hand-offs, every agency on one account, the "
            f"post office answering in 50 ms with a quota of {quota:.0f} requests/s (429 "
            f"above it): **{r['flowing_rate']} orders/s** once flowing ({r['rate']} over the "
            f"whole run), {r['flowing_rate'] / quota:.2f} of the quota (goal 0.90); the "
            f"worker's own limiter lets no {1 + margin:g} s hold more than {quota:.0f} of an "
            f"account's requests (HANDOFF_CARRIER_QUOTA_MARGIN_SECONDS {margin:g}), at most "
            f"{cap:.0f} a second, {cap / quota:.2f} of the quota, which tracking polls and "
            f"token requests share; {r['answered_429']} answered 429; the busiest second "
            f"held {most} requests; duplicate orders {r['duplicate_orders']}; peak RSS per worker "
            f"process {_peak(r):.0f} MB. Cores in use while the orders flowed: "
            f"{cpu_text(r.get('cpu_cores', {}))}."), r


def bench_push(n: int) -> tuple[str, dict[str, Any]]:
    size = max(100, n // 2)
    runs = {"naive": pushbacks(size, extra_env=NAIVE), "shipped": pushbacks(size)}
    lines = ["| design | hand-offs | push-backs | per hand-off | push-backs/s (first to last) "
             "| after the last order | busiest second | sent twice (same eventId) | a status "
             "recorded twice | out of order | \"accepted\" heard after the order, p50 / p99 "
             "| whole run |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        lines.append(f"| {name} | {r['handoffs']} | {r['pushes']} | {r['per_handoff']} | "
                     f"{r['rate']} | {r['rate_after_orders']} | {r['busiest_second']} | "
                     f"{r['sent_twice']} | {r['duplicate_pushbacks']} | {r['out_of_order']} | "
                     f"{r['heard_accepted_p50_s']} / {r['heard_accepted_p99_s']} s "
                     f"(orders over {r['orders_s']} s) | {r['seconds']} s |")
    shipped = runs["shipped"]
    lines += ["", f"The whole flow with the post office's clock sped up, so the push-backs "
              f"are paced by the rest of the path as well, not only by the one-stop: "
              f"{shipped['rate']} push-backs/s from the first to the last (goal 1,000/s: "
              f"{shipped['rate'] / 1000:.2f} of it), {shipped['rate_after_orders']}/s once the "
              f"last order was accepted (the first push-backs go out while the orders are "
              f"still paced by the accounts' quotas), {shipped['sent_twice']} sent twice, "
              f"{shipped['out_of_order']} out of order (goals 0 and 0). Cores in use from "
              f"the last order accepted to the last push-back (bench/cpu_roles.py): "
              f"{cpu_text(shipped.get('cpu_cores_after_orders', {}))}."]
    return "\n".join(lines), runs


def bench_ops(n: int) -> tuple[str, dict[str, Any]]:
    out = subprocess.run([sys.executable, "bench/ops_queries.py"], capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        return f"not run: bench/ops_queries.py failed: {out.stderr[-400:]}", {}
    return out.stdout.strip(), {}


def bench_feed(n: int) -> tuple[str, dict[str, Any]]:
    r = tracking_feed(max(1000, n * 2), drain_window=20.0)
    return tracking_feed_report(r), r


def bench_latency(n: int) -> tuple[str, dict[str, Any]]:
    runs = [steady_latency(rate, seconds=20.0) for rate in (100.0, 20.0)]
    return latency_report(runs), {f"{r['rate_offered']:g}/s": r for r in runs}


def bench_rounds(n: int) -> tuple[str, dict[str, Any]]:
    items = 50
    counts = count_round_trips(items)
    return (f"A page of {items} valid items in one transaction, their posts and push-backs "
            f"(half in bell messages of HANDOFF_JOB_BATCH rows, half one row a message), "
            f"then a tracking page of one milestone per hand-off:\n\n"
            f"{round_trips_report(counts, items)}"), {
        what: dict(seen) for what, seen in counts.items()}


def bench_broker(n: int) -> tuple[str, dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "bench.broker_growth"], capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        return f"not run: bench/broker_growth.py failed: {out.stderr[-400:]}", {}
    return "```\n" + out.stdout.strip() + "\n```", {}


def bench_demo(n: int) -> tuple[str, dict[str, Any]]:
    r = demo_memory()
    return demo_memory_report(r), r


BENCHES: dict[str, tuple[str, Callable[[int], tuple[str, dict[str, Any]]], str]] = {
    "burst": ("2 and 7. Burst without a quota; memory", bench_burst,
              "python -m bench.burst --handoffs N [--backend embedded] (HANDOFF_JOB_BATCH=1 "
              "HANDOFF_JOB_THREADS=1 for the naive design)"),
    "ceiling": ("2. Celery's no-op ceiling", bench_ceiling, "python -m bench.celery_ceiling"),
    "scaling": ("8. Scaling over pool processes", bench_scaling,
                "python -m bench.burst --handoffs N --concurrency 1|2|4"),
    "quota": ("1. Burst at the post office's quota", bench_quota,
              "python -m bench.burst --handoffs N --quota 200 --office-quota 200 "
              "--latency-ms 50 --one-account"),
    "push": ("4. Push-backs", bench_push, "python -m bench.pushbacks --handoffs N [--naive]"),
    "ops": ("6. Ops queries", bench_ops, "python bench/ops_queries.py"),
    "feed": ("5. Tracking feed", bench_feed, "python -m bench.tracking_feed --events N"),
    "agencies": ("9. Many agencies", bench_many_agencies,
                 "python -m bench.many_agencies --handoffs N [--control]"),
    "latency": ("3. Latency at a steady rate", bench_latency,
                "python -m bench.latency --rate 100|20 --seconds 20"),
    "rounds": ("Round trips per row", bench_rounds, "python -m bench.round_trips"),
    "broker": ("The embedded broker after many messages", bench_broker,
               "python -m bench.broker_growth"),
    "demo": ("7. `make demo` whole", bench_demo, "python -m bench.demo_memory"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=2000, help="hand-offs per burst")
    p.add_argument("--only", default="", help=f"some of {','.join(BENCHES)}")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None, help="the raw figures too")
    a = p.parse_args(argv)
    wanted = [b for b in a.only.split(",") if b] or list(BENCHES)
    sections: list[str] = []
    raw: dict[str, Any] = {}
    started = time.monotonic()
    for key in wanted:
        title, fn, command = BENCHES[key]
        print(f"[bench] {title} …", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            text, figures = fn(a.size)
        except Exception as err:  # one benchmark failing never loses the others' figures
            text, figures = f"not run: {type(err).__name__}: {str(err)[:400]}", {}
        raw[key] = figures
        sections.append(f"## {title}\n\n`{command}` ({time.monotonic() - t0:.0f} s)\n\n{text}")
        print(sections[-1] + "\n", flush=True)
        _write(a, sections, raw, started)  # after each: a long run stopped keeps what it has
    return 0


def _write(a: argparse.Namespace, sections: list[str], raw: dict[str, Any],
           started: float) -> None:
    doc = ("# Benchmarks\n\n" + "\n\n".join(sections)
           + f"\n\n## Machine\n\n{machine(time.monotonic() - started)}\n")
    if a.out:
        a.out.write_text(doc, encoding="utf-8")
    if a.json:
        a.json.write_text(json.dumps(raw, indent=1), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
