"""Benchmark 1 with a blip: the same burst at the post office's quota, and in a second run
the post office holding the account for 50 ms (429, Retry-After 1) `--at` seconds in, as a
one-second window overrun by jitter does: the requests in flight then are answered 429.
What the blip costs the burst: orders/s once flowing, both runs, against the quota.

    python -m bench.quota_blip [--handoffs 10000] [--at 20]

A 429 of a hold this short is sent again by the client once the hold is over
(integrations/carriers/vnpost/gateway.py `_send`); before, its row went back to the ledger
for the Retry-After plus up to 10 s of spread, and the burst's last orders were accepted
seconds after the rest (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import burst as burst_module

QUOTA = 200.0


def run(handoffs: int, at: float | None) -> dict[str, Any]:
    plain = burst_module.burst_world

    @contextmanager
    def with_blip(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with plain(*args, **kwargs) as world:
            def blip() -> None:
                time.sleep(at or 0.0)
                world.stack.carrier_admin("quota", {"throttle": {"demo-key": {
                    "seconds": 0.05, "retry_after": 1}}})
            if at is not None:
                threading.Thread(target=blip, daemon=True).start()
            yield world

    burst_module.burst_world = with_blip  # type: ignore[assignment]
    try:
        r = burst_module.burst(handoffs, quota=QUOTA, office_quota=QUOTA, latency_ms=50,
                               one_account=True)
    finally:
        burst_module.burst_world = plain
    return {"blip_at_s": at, "flowing_rate": r["flowing_rate"],
            "share_of_quota": round(r["flowing_rate"] / QUOTA, 3),
            "answered_429": r["answered_429"], "seconds": r["seconds"],
            "busiest_second": max((v or 0 for v in r["max_per_second"].values()), default=0),
            "duplicate_orders": r["duplicate_orders"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--handoffs", type=int, default=10_000)
    p.add_argument("--at", type=float, default=20.0, help="seconds into the burst")
    a = p.parse_args(argv)
    runs = [run(a.handoffs, None), run(a.handoffs, a.at)]
    for r in runs:
        print(json.dumps(r))
    print(json.dumps({"blip_costs": round(1 - runs[1]["flowing_rate"] / runs[0]["flowing_rate"],
                                          3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
