"""Benchmark 1 seen from the post office: a burst on one account at its quota, and the
order posts' arrival times at the carrier simulator (its quota meter, `?times=1`): posts a
second from the first to the last, the moments with no post at all, the busiest window,
429s, the posts in each second. It shows where a quota goes unused (bench/RESULTS.md, the
runs behind the quota limiter's catch-up and the job runner's overlap).

    python -m bench.quota_timeline --handoffs 3000 [--env HANDOFF_JOB_THREADS=16 ...]

`--env` settings go to the world's processes (the worker, beat, web), as bench.burst's
`extra_env`.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.burst import _accepted, base_agencies, burst_world, on_one_account
from tests.quota_windows import max_in_window


def timeline(handoffs: int, env: dict[str, str], *, quota: float = 200.0,
             latency_ms: float = 50.0, timeout: float = 900.0) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-quota-timeline-"))
    with burst_world(home, quota=quota, office_quota=quota, latency_ms=latency_ms,
                     extra_env=env, agencies=on_one_account(base_agencies())) as world:
        world.seed(handoffs)
        started = time.monotonic()
        while _accepted(world) < handoffs and time.monotonic() - started < timeout:
            time.sleep(0.5)
        meter = world.stack.carrier_admin("quota?times=1")
    account = max(meter["accounts"].values(), key=lambda a: len(a.get("post_times", [])))
    times = sorted(account["post_times"])
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    tenths = collections.Counter(int((t - times[0]) * 10) for t in times)
    seconds = collections.Counter(int(t - times[0]) for t in times)
    return {
        "handoffs": handoffs, "env": env, "posts": len(times),
        "posts_per_s": round(len(times) / span, 1) if span else None,
        "share_of_quota": round(len(times) / span / quota, 3) if span else None,
        "tenths_with_no_post": sum(1 for i in range(int(span * 10)) if not tenths.get(i)),
        "longest_gap_ms": round(max(gaps, default=0.0) * 1000),
        "busiest_second": max_in_window(times, 1.0),
        "answered_429": account.get("throttled", 0),
        "per_second": [seconds.get(i, 0) for i in range(int(span) + 1)],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--handoffs", type=int, default=3000)
    p.add_argument("--env", nargs="*", default=[], help="NAME=VALUE for the world's processes")
    a = p.parse_args(argv)
    env = dict(item.split("=", 1) for item in a.env)
    print(json.dumps(timeline(a.handoffs, env)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
