"""Benchmark 3 of the performance issue: latency at a steady rate. Hand-offs appear at
`rate` per second for `seconds` in the one-stop's feed, half of them also posted to the
web's webhook right after (as the one-stop does); each one's latency is the time from the
moment it was in the feed to its order accepted by the post office (its post's ledger row
done).

    python -m bench.latency [--rate 100] [--seconds 20] [--poll-every 1]

The deployment is benchmark 2's (bench/burst.burst_world: the real worker, beat and web as
processes, Redis + PostgreSQL of their own, the post office answering at once with no
quota). The goals are the issue's: p99 at most the feed's poll interval + 1 s for feed
items, at most 1 s for webhook items. Beside them, the rate the orders were accepted at
over the run: a rate offered above what the worker takes grows a queue, and the latency
then measures the queue, not the path; and the cores each part of the deployment used
while the hand-offs were offered (bench/cpu_roles.py), this process's own among them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench.burst import burst_world
from bench.cpu_roles import CpuByRole, cpu_text
from chaos.world import World
from worker.db.models import Handoff, Job
from worker.domain.enums import JobKind, JobState

TICK = 0.1  # seconds between two groups of hand-offs


def _accepted_at(world: World, codes: list[str]) -> dict[str, float]:
    """Each dossier's post done, as a wall-clock time (the worker's clock: the same host)."""
    out: dict[str, float] = {}
    with world.db().unit_of_work() as s:
        for start in range(0, len(codes), 1000):
            rows = s.execute(select(Handoff.dossier_code, Job.done_at).join(
                Job, Job.handoff_id == Handoff.id).where(
                Handoff.dossier_code.in_(codes[start:start + 1000]),
                Job.kind == JobKind.POST_ORDER, Job.state == JobState.DONE))
            for code, done in rows:
                if done is not None:
                    moment = done if done.tzinfo else done.replace(tzinfo=UTC)
                    out[code] = moment.timestamp()
    return out


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _wait_consuming(world: World, timeout: float = 60.0) -> None:
    """Until each worker has said it is ready (takes messages): the latency of a running
    deployment, not of one still starting (its first items waited for the worker's start,
    up to a second more in the runs before)."""
    deadline = time.monotonic() + timeout
    logs = [world.stack.home / f"{name}.log" for name in world.worker_names]
    while not all(" ready." in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline:
            raise RuntimeError("a worker never said it was ready")
        time.sleep(0.1)


def latency(rate: float = 100.0, seconds: float = 20.0, poll_every: float = 1.0,
            wait_s: float = 600.0, home: Path | None = None) -> dict[str, Any]:
    """Offer `rate` hand-offs a second for `seconds`; their latencies by path."""
    home = home or Path(tempfile.mkdtemp(prefix="bench-latency-"))
    appeared: dict[str, tuple[str, float]] = {}  # dossier -> (path, when it appeared)
    env = {"HANDOFF_POLL_ONESTOP_EVERY": f"{poll_every:g}"}
    with burst_world(home, quota=10_000.0, extra_env=env) as world, \
            ThreadPoolExecutor(16) as posts, httpx.Client(limits=httpx.Limits(
                max_connections=16)) as client:
        _wait_consuming(world)

        def hook(item: dict) -> tuple[int, float]:
            """Posted as the one-stop does once the item is in its feed: (status, when it
            was posted)."""
            posted = time.time()
            return world.post_webhook(item, client)[0], posted

        with CpuByRole(world) as cpu:  # who was on the cores while they were offered
            hooked: list[tuple[str, float, Future[tuple[int, float]]]] = []
            started, offered, tick = time.monotonic(), 0, 0
            while time.monotonic() - started < seconds:
                tick += 1
                n = int(rate * min(seconds, time.monotonic() - started)) - offered  # by the clock
                if n > 0:
                    items = world.items(n)
                    k = n // 2 + (tick % 2 if n % 2 else 0)  # half by webhook too, alternately
                    # the moment of all of them: from before the call that puts them in the
                    # feed (its time is counted against the worker)
                    now = time.time()
                    world.stack.onestop_admin("handoffs", {"items": items})
                    for i, item in enumerate(items):
                        appeared[item["dossierCode"]] = ("webhook" if i < k else "feed", now)
                    hooked += [(item["dossierCode"], now, posts.submit(hook, item))
                               for item in items[:k]]
                    offered += n
                time.sleep(max(0.0, started + tick * TICK - time.monotonic()))
            offered_s = time.monotonic() - started
        cores = cpu.cores(started, started + offered_s)
        answered = [(f.result(), now) for _, now, f in hooked]  # every one answered first
        answers = [status for (status, _), _ in answered]
        # the bench's own delay before a webhook was posted (counted in its latency, which
        # runs from the moment the item went into the feed)
        sender_lag = sorted(at - now for (_, at), now in answered)
        codes = list(appeared)
        done: dict[str, float] = {}
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            done = _accepted_at(world, codes)
            if len(done) == len(codes):
                break
            time.sleep(1.0)
    by_path: dict[str, list[float]] = {"feed": [], "webhook": []}
    for code, (path, when) in appeared.items():
        if code in done:
            by_path[path].append(done[code] - when)
    first = min((when for _, when in appeared.values()), default=0.0)
    last_done = max(done.values(), default=first)
    goals = {"feed": poll_every + 1.0, "webhook": 1.0}
    out: dict[str, Any] = {
        "rate_offered": rate, "seconds_offered": round(offered_s, 1), "handoffs": len(codes),
        "rate_achieved": round(len(codes) / max(offered_s, .1), 1),
        "accepted": len(done), "accepted_rate": round(len(done) / max(last_done - first, .1), 1),
        "webhooks_2xx": sum(1 for s in answers if 200 <= s < 300),
        "webhooks_posted": len(answers), "poll_every": poll_every,
        "sender_lag_p50": round(_percentile(sender_lag, .5), 2),
        "sender_lag_p99": round(_percentile(sender_lag, .99), 2), "cpu_cores": cores}
    for path, values in by_path.items():
        offered = sum(1 for p, _ in appeared.values() if p == path)
        out[path] = {"count": len(values), "offered": offered,
                     "p50": round(_percentile(values, .5), 2),
                     "p99": round(_percentile(values, .99), 2), "goal_p99": goals[path],
                     "p99_over_goal": round(_percentile(values, .99) / goals[path], 2)}
    return out


def report(runs: list[dict[str, Any]]) -> str:
    lines = ["| offered | hand-offs accepted | accepted at | path | p50 | p99 | goal (p99) "
             "| p99 / goal |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        for path in ("feed", "webhook"):
            p = r[path]
            lines.append(f"| {r['rate_achieved']:g}/s for {r['seconds_offered']} s | "
                         f"{p['count']}/{p['offered']} | {r['accepted_rate']}/s | {path} | "
                         f"{p['p50']} s | "
                         f"{p['p99']} s | {p['goal_p99']:g} s | {p['p99_over_goal']} |")
    lines += ["", "Feed polled every {:g} s. Latency from the moment the item was in the "
              "one-stop's feed, for webhook items too (the bench posts them right after; "
              "its delay from that moment to the post, p50/p99: {}). "
              "Webhooks answered 2xx: {}.".format(
                  runs[0]["poll_every"],
                  ", ".join(f"{r['sender_lag_p50']}/{r['sender_lag_p99']} s" for r in runs),
                  ", ".join(f"{r['webhooks_2xx']}/{r['webhooks_posted']}" for r in runs))]
    lines += ["", "Who was on the cores while the hand-offs were offered (bench/cpu_roles.py; "
              "the benchmark's own process makes the items, puts them in the one-stop "
              "simulator's feed and posts the webhooks):"]
    lines += [f"- {r['rate_achieved']:g}/s: {cpu_text(r.get('cpu_cores', {}))}" for r in runs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--poll-every", type=float, default=1.0)
    a = p.parse_args(argv)
    print(json.dumps(latency(a.rate, a.seconds, a.poll_every)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
