"""5. Post office down: every request to the carrier answered 503 with Retry-After for a
while (wall-clock seconds: the simulator's sped-up clock moves its parcels, not its front
door, and the worker waits in real seconds), then back: everything completes, the
Retry-After is honoured, and the retries that follow are spread by jitter, not a herd.

The outage is the carrier simulator's quota meter (`/_admin/quota` `outage`), which answers
every contract request of every account (token requests too) and notes, per account, each
request that arrived before the Retry-After it last gave that account had run out (`early`;
the account is the post office's notion of a client, and the worker's own 429 hold is per
account too). The outage lasts `down_s`, and longer until every hand-off's post was tried
once (a pool process spends ~2 s on each try, asleep in the client's short retries, so a
short outage sees few of them): then every row waits on its backoff when the door opens,
which is what jitter is about.

The histogram: per-second counts of the order posts that reached the post office after the
outage's end (the meter's arrival times; the ledger says how many of them were first tries).
It is what the post office sees: a row refused by the worker's own hold after the end is a
ledger attempt but no request, so the ledger's attempts would count rows that never came.

A herd: a second holding more of those posts than uniform spreading would put there. The
worker's rule spreads the rows of one hold uniformly over the RETRY_AFTER_SPREAD_S seconds
after its end (worker/domain/rules.py), so a second holds a post with probability at most
p = 1/window, and with n posts the busiest of the m seconds shown holds more than k with
probability at most m * P(Binomial(n, p) > k) (a union bound): k is the smallest count
that makes this at most HERD_CHANCE. With a 10 s window (11 seconds shown) k is 11 of 40
(28 %) for `--short` and 47 of 300 (16 %) at full size, while chance alone puts the busiest
second of 40 uniform posts over 10 s at 18 % (median) to 22 % (95th percentile). A fixed
share is not a bound: 25 % of 40 posts spread uniformly over 5 s fails six runs in ten.
A herd, every row back at once at a hold's end, is smeared by the accounts' quotas (4
accounts x 20/s) over ~0.5 s (40 posts) or ~3.8 s (300): ~50 % and ~27 % in one second,
above k at both sizes (`--short` with the Retry-After jitter taken out of the rule: 19 of
40 in one second).
Time to recover: from the outage's end to the first order the post office creates.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import httpx
from sqlalchemy import select

from chaos import measure
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.db.models import Attempt, Job
from worker.domain.enums import JobKind
from worker.domain.rules import RETRY_AFTER_SPREAD_S

NAME = "Post office down (503)"
HERD_CHANCE = 0.01  # how often uniformly spread posts may be taken for a herd
PROBE = "chaos-probe"  # an account nobody has: its one request marks when the outage began


def _probe(world: World) -> None:
    """One token request under an account of our own, timed by the meter like the rest."""
    httpx.post(world.stack.carrier_url + "token", data={"grant_type": "client_credentials"},
               auth=(PROBE, "x"), timeout=10)


def _untried(db: Database) -> int:
    """Post rows not tried yet."""
    with db.unit_of_work() as s:
        return len(s.scalars(select(Job.id).where(Job.kind == JobKind.POST_ORDER,
                                                  Job.attempts == 0)).all())


def _first_tries_after(db: Database, end: float) -> int:
    """The post rows whose first try started after `end` (epoch s)."""
    with db.unit_of_work() as s:
        rows = s.execute(select(Attempt.at, Attempt.duration_ms).join(
            Job, Attempt.job_id == Job.id).where(Job.kind == JobKind.POST_ORDER,
                                                 Attempt.number == 1)).all()
    return sum(1 for at, took in rows
               if (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
               - (took or 0) / 1000 >= end)


def herd_bound(n: int, window: float, seconds: int, chance: float = HERD_CHANCE) -> int:
    """The most of `n` posts one of `seconds` seconds may hold before it is a herd: the
    smallest k with seconds * P(Binomial(n, 1/window) > k) <= chance, i.e. what posts spread
    uniformly over `window` seconds exceed in their busiest second that rarely at most."""
    p = min(1.0, 1.0 / window)
    above = 1.0  # P(X > k), from k = -1 on
    for k in range(n + 1):
        above -= math.comb(n, k) * p ** k * (1 - p) ** (n - k)
        if seconds * above <= chance:
            return k
    return n


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, down_s, retry_after = int(size["handoffs"]), float(size["down_s"]), int(size["retry_after"])
    env = {"HANDOFF_BACKOFF_BASE_SECONDS": str(size["backoff_base"]),
           "HANDOFF_BACKOFF_MAX_SECONDS": str(size["backoff_max"])}
    with world_factory(extra_env=env) as world:
        world.start()
        db = world.db()
        # every account has polled its feed once: its token is cached before the door shuts
        accounts = {a["customer_key"] for a in world.agencies.values() if a.get("customer_key")}
        wanted = accounts | {"demo-key"}
        if measure.time_until(lambda: wanted <= set(world.stack.carrier_admin("stats")[
                "token_requests_by_account"]), 60) is None:
            raise AssertionError("not every account fetched a token within 60 s")
        world.stack.carrier_admin("quota", {"outage": {"seconds": 3600,
                                                       "retry_after": retry_after}})
        shut = time.monotonic()
        _probe(world)
        codes = world.seed(n)
        time.sleep(max(0.0, shut + down_s - time.monotonic()))
        tried = measure.time_until(lambda: measure.final_statuses(db, codes).keys() == set(
            codes) and _untried(db) == 0, 600, every=0.5)
        world.stack.carrier_admin("quota", {"outage": None})
        end_wall, lasted = time.time(), time.monotonic() - shut
        _probe(world)
        recover_s = measure.time_until(
            lambda: world.stack.carrier_admin("stats")["orders"] > 0, 120, every=0.1)
        all_posted = measure.time_until(
            lambda: world.stack.carrier_admin("stats")["orders"] >= n, 300)
        world.wait_all_final(codes, timeout=max(180, n * 1.0))
        world.wait_drained(60)

        meter = world.stack.carrier_admin("quota?times=1")["accounts"]
        probe = meter.get(PROBE, {}).get("times", [])
        if not probe:
            raise AssertionError(f"the probe request was not metered: {sorted(meter)}")
        if len(probe) < 2:
            raise AssertionError(f"the probe requests were not metered: {probe}")
        end = probe[1]  # meter time of the outage's end (the probe came right after it)
        clients = {k: v for k, v in meter.items() if k != PROBE}
        early = {k: v["early"] for k, v in clients.items() if v["early"]}
        refused = sum(v["unavailable"] for v in clients.values())
        posts = [t for v in clients.values() for t in v.get("post_times", [])]
        during = sum(1 for t in posts if probe[0] <= t < end)
        arrived_after = sum(1 for t in posts if t >= end)
        late_first = _first_tries_after(db, end_wall)
        hist = Counter(int(t - end) for t in posts if t >= end)
        top_second, top = max(hist.items(), key=lambda kv: kv[1]) if hist else (0, 0)
        seconds = max(hist) + 1 if hist else 0
        bound = herd_bound(arrived_after, RETRY_AFTER_SPREAD_S, seconds)
        shown = " ".join(f"{s}s:{hist[s]}" for s in range(seconds)) if hist else "none"
        notes = (f"outage {lasted:.0f} real s (wall clock; {down_s:.0f} asked, "
                 f"{'then until' if tried is not None else 'NOT'} every post tried once), "
                 f"Retry-After {retry_after}s, "
                 f"backoff {size['backoff_base']}-{size['backoff_max']}s; {refused} requests "
                 f"answered 503, {during} order posts during the outage and {arrived_after} "
                 f"after it ({late_first} hand-offs first tried only after it); early "
                 f"requests (before the Retry-After given ran out) per account: "
                 f"{early or 'none'}; order posts after it, per second from its end: "
                 f"[{shown}] (busiest second {top_second}: {top}/{arrived_after}; a herd "
                 f"above {bound} ({bound / max(1, arrived_after):.0%}), which {arrived_after} "
                 f"posts spread uniformly over the worker's {RETRY_AFTER_SPREAD_S:.0f} s "
                 f"jitter window exceed in the busiest of these {seconds} seconds with "
                 f"probability <= {HERD_CHANCE:.0%}: binomial tail, union bound); every "
                 f"hand-off accepted "
                 + (f"{all_posted:.1f}s after the end" if all_posted is not None
                    else "NOT within 300 s"))
        row = world.verdict(NAME, codes, recover_s, notes=notes)
        failures = []
        if early:
            failures.append(f"Retry-After not honoured: {sum(early.values())} requests sent "
                            f"before it ran out")
        if top > bound:
            failures.append(f"a herd: {top} of {arrived_after} posts in one second "
                            f"(uniform jitter: at most {bound})")
        if arrived_after == 0:
            failures.append("no order post after the outage was metered")
        if recover_s is None:
            failures.append("no order created within 120 s of the outage's end")
        return row.fail(failures)


SCENARIO = Scenario(
    number=5, name=NAME, run=run,
    full={"handoffs": 300, "down_s": 300, "retry_after": 30, "backoff_base": 5,
          "backoff_max": 60},
    short={"handoffs": 40, "down_s": 20, "retry_after": 5, "backoff_base": 0.5,
           "backoff_max": 20},
    mostly_waits=True)
