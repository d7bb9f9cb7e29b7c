"""Benchmarks 1, 2, 7 and 8 of the performance issue: a burst of result-ready hand-offs put
in the one-stop feed at once, on a deployment of the chaos suite's kind (chaos/world.py:
the real worker, beat, web and both simulators as processes, with its own redis-server and
PostgreSQL cluster, or the embedded default), timed from the moment they are in the feed
to the moment the post office has accepted every order.

    python -m bench.burst --handoffs 1000 [--workers 1] [--concurrency 2]
                         [--backend redis+pg|embedded] [--quota 200] [--latency-ms 50]
                         [--one-account]

Prints one JSON line: the rate of orders accepted (per second, over the run and over its
busiest stretch), duplicates at the post office, 429s, the peak memory (VmHWM) of every
worker process, and the cores each part of the deployment used while the orders flowed.
bench/run.py runs it in the combinations `make bench` reports.
burst_world() starts such a deployment for benchmarks that seed and measure it their own
way (bench/many_agencies.py: 30 agencies on 10 accounts, one of them held with 429s).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.cpu_roles import CpuByRole
from chaos.measure import count_duplicate_orders
from chaos.world import EXTRA_AGENCY, World
from worker.db.models import Job
from worker.domain.agency_spec import CREDENTIAL_FIELDS
from worker.domain.enums import JobKind, JobState
from worker.domain.routes import DEFAULT_ROUTE
from worker.launch.stack import EXAMPLE_AGENCIES
from worker.settings import Settings


def _accepted(world: World) -> int:
    """Posts done: the post office has answered with an order (or recognised it)."""
    with world.db().unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(
            Job.kind == JobKind.POST_ORDER, Job.state == JobState.DONE)) or 0)


def _peak_rss_mb(pids: list[int]) -> dict[int, float]:
    """Each process's peak resident memory so far (VmHWM), in MB."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out[pid] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return out


def base_agencies() -> dict[str, dict]:
    """The agencies every World holds (the example file's and the chaos suite's fourth)."""
    return {**json.loads(EXAMPLE_AGENCIES.read_text(encoding="utf-8")), **EXTRA_AGENCY}


# what makes an agency's own carrier account: without them it posts on the default one
ACCOUNT_FIELDS = ("customer_code", *CREDENTIAL_FIELDS, "quota_per_second")


def on_one_account(agencies: dict[str, dict]) -> dict[str, dict]:
    """The agencies all on the deployment's default account (benchmark 1: one post office
    quota for the whole burst)."""
    return {code: {**{k: v for k, v in entry.items() if k not in ACCOUNT_FIELDS},
                   "route": DEFAULT_ROUTE.value} for code, entry in agencies.items()}


def set_office_quota(world: World, agencies: dict[str, dict], per_second: float) -> None:
    """The post office's own limit on every account of `agencies` and the default one:
    429 above `per_second` requests in any sliding second."""
    keys = {e.get("customer_key") or e.get("consumer_key") for e in agencies.values()}
    world.stack.carrier_admin("quota", {"limit_per_s": {
        k: per_second for k in keys | {"demo-key"} if k}})


@contextmanager
def burst_world(home: Path, *, quota: float, office_quota: float | None = None,
                latency_ms: float = 0.0, workers: int = 1, concurrency: int = 2,
                backend: str = "redis+pg", extra_env: dict[str, str] | None = None,
                agencies: dict[str, dict] | None = None) -> Iterator[World]:
    """A started World for a burst: the worker limits every account (each agency's own and
    the default one) to `quota` requests/s; the post office answers in `latency_ms` and,
    with `office_quota`, 429 above it per account."""
    # the one-stop feed read every second (the burst is in it); the tracking poll and the
    # sweep at the deployment's defaults, not the demo stack's once a second: in a burst
    # they took a pool process every second (a tracking poll also takes a quota slot)
    defaults = Settings.model_fields
    env = {"HANDOFF_WORKER_CONCURRENCY": str(concurrency),
           "HANDOFF_POLL_ONESTOP_EVERY": "1", "HANDOFF_CARRIER_QUOTA_PER_SECOND": str(quota),
           "HANDOFF_POLL_CARRIER_EVERY": str(defaults["poll_carrier_every"].default),
           "HANDOFF_SWEEP_EVERY": str(defaults["sweep_every"].default),
           **(extra_env or {})}
    own = {code: {**entry, "quota_per_second": quota}
           for code, entry in (agencies or base_agencies()).items()}
    # the post office's clock at real speed: no parcel moves during the run, so the work is
    # the orders and their "accepted" push-backs (benchmark 4 measures the push-backs)
    with World(home, backend=backend, workers=workers, extra_env=env, extra_agencies=own,
               speed=1.0) as world:
        world.start()
        world.stack.carrier_admin("faults", {"latency_ms": latency_ms})
        if office_quota:
            set_office_quota(world, own, office_quota)
        yield world


def burst(handoffs: int, *, workers: int = 1, concurrency: int = 2, backend: str = "redis+pg",
          quota: float = 10_000.0, office_quota: float | None = None,
          latency_ms: float = 0.0, timeout: float = 1800.0,
          extra_env: dict[str, str] | None = None, home: Path | None = None,
          one_account: bool = False) -> dict[str, Any]:
    """Run one burst; its figures. `one_account`: every agency on the default account."""
    home = home or Path(tempfile.mkdtemp(prefix="bench-burst-"))
    with burst_world(home, quota=quota, office_quota=office_quota, latency_ms=latency_ms,
                     workers=workers, concurrency=concurrency, backend=backend,
                     extra_env=extra_env, agencies=on_one_account(base_agencies())
                     if one_account else None) as world:
        with CpuByRole(world) as cpu:
            world.seed(handoffs)  # in the one-stop's feed, all at once
            started = time.monotonic()
            marks: list[tuple[float, int]] = []
            done = 0
            while done < handoffs and time.monotonic() - started < timeout:
                time.sleep(0.5)
                done = _accepted(world)
                marks.append((time.monotonic() - started, done))
        took = marks[-1][0]
        first = next((t for t, n in marks if n > 0), took)
        pids = [p for name in world.worker_names for p in
                (world.worker_pids(name)[0], *world.worker_pids(name)[1])]
        rss = _peak_rss_mb(pids)
        carrier = world.stack.carrier_admin("stats")
        meter = world.stack.carrier_admin("quota")
    return {
        "handoffs": handoffs, "accepted": done, "seconds": round(took, 1),
        "first_accepted_s": round(first, 1),
        "rate": round(done / took, 1) if took else 0.0,
        # the rate once orders flow: from the first accepted to the last
        "flowing_rate": round(done / max(took - first, 0.5), 1),
        "duplicate_orders": count_duplicate_orders(carrier["orders_by_number"]),
        "answered_429": int(sum(a.get("throttled", 0)
                                for a in meter.get("accounts", {}).values())),
        "max_per_second": {k: a.get("max_per_second") for k, a in
                           meter.get("accounts", {}).items()},
        "peak_rss_mb": {str(k): round(v, 1) for k, v in rss.items()},
        "workers": workers, "concurrency": concurrency, "backend": backend, "quota": quota,
        "office_quota": office_quota, "latency_ms": latency_ms,
        "marks": [(round(t, 1), n) for t, n in marks],
        # who was on the cores while the orders flowed (bench/cpu_roles.py)
        "cpu_cores": cpu.cores(started + first, started + took),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--handoffs", type=int, default=1000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--backend", default="redis+pg", choices=("redis+pg", "embedded"))
    p.add_argument("--quota", type=float, default=10_000.0, help="the worker's own, per account")
    p.add_argument("--office-quota", type=float, default=None,
                   help="the post office's, per account (429 above it)")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--one-account", action="store_true",
                   help="every agency on the default account (one quota for the burst)")
    a = p.parse_args(argv)
    print(json.dumps(burst(a.handoffs, workers=a.workers, concurrency=a.concurrency,
                           backend=a.backend, quota=a.quota, office_quota=a.office_quota,
                           latency_ms=a.latency_ms, one_account=a.one_account)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
