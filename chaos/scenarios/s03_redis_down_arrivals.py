"""3. Redis down while hand-offs arrive, by the one-stop's feed and by its webhook: every
webhook is answered 2xx while Redis is down and its hand-off is in the ledger (a hand-off
row and its pending post) before Redis comes back; the web keeps answering /healthz; once
Redis is back, every hand-off (the feed's too: the feed is read by a beat-rung task, so it
waits for the broker) has its order at the post office within 60 s; then everything
completes, nothing lost or done twice.

The webhooks arrive spread evenly over the outage, many in flight at once as a sender whose
answers are slow would have them; each meets a dead broker (the web's ring fails after the
commit; the sweep rings the row once Redis is back). Redis comes back once every webhook is
answered. Time to recover: from Redis answering again to the last hand-off dispatched
(accepted by the post office); the scenario fails past 60 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import select

from chaos import measure
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.db.models import Handoff, Job
from worker.domain.enums import JobKind, JobState

NAME = "Redis down while hand-offs arrive"
DISPATCH_WITHIN_S = 60.0
NOT_DISPATCHED = ("requested", "needs_attention")
SENDERS = 64  # webhooks in flight at most (the one-stop's sender)


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, down_s = int(size["handoffs"]), float(size["down_s"])
    by_feed, by_hook = n // 2, n - n // 2
    began = time.monotonic()
    with world_factory(workers=1) as world:
        world.start()
        started = time.monotonic() - began
        # the straight path (no returns, no failed pickups): what is measured here is the
        # arrival and the dispatch, and the short size must fit make test's budget
        world.stack.carrier_admin("faults", {"return_rate": 0.0, "pickup_fail_rate": 0.0})
        db = world.db()
        world.redis.stop()  # SIGTERM: Redis is gone, its queue with it
        down_at = time.monotonic()
        health = _HealthProbe(world.stack.web_url + "healthz")
        health.start()
        codes = world.seed(by_feed)  # into the one-stop's feed only
        items = world.items(by_hook)
        for i in range(0, len(items), 200):
            world.stack.onestop_admin("handoffs", {"items": items[i:i + 200]})
        answers = _post_spread(world, items, down_at, down_s)
        in_ledger = _in_ledger(db, [i["dossierCode"] for i in items])
        health.stop()
        outage = time.monotonic() - down_at
        world.redis.start()
        codes += [i["dossierCode"] for i in items]
        took = measure.time_until(lambda: _undispatched(db, codes) == 0, 180)
        left = _undispatched(db, codes)
        final = world.wait_all_final(codes, timeout=max(120, n * 0.5))
        world.wait_drained(60)
        refused = [a for a in answers if not 200 <= a[0] < 300 or a[1] != "created"]
        slowest = max((a[2] for a in answers), default=0.0)
        row = world.verdict(NAME, codes, took, notes=(
            f"{by_feed} by feed, {by_hook} by webhook while Redis was down {outage:.0f} s; "
            f"webhooks answered in {_median(answers):.1f} s (median), {slowest:.1f} s at "
            f"most; {in_ledger}/{by_hook} webhook hand-offs in the ledger before Redis came "
            f"back; /healthz {health.ok}/{health.asked} OK while down; started in "
            f"{started:.0f} s, all final {final:.0f} s after Redis was back"))
        failures = []
        if refused:
            failures.append(f"{len(refused)} webhooks not answered 2xx 'created' "
                            f"(e.g. {refused[0][:2]})")
        if in_ledger < by_hook:
            failures.append(f"{by_hook - in_ledger} webhook hand-offs not in the ledger "
                            "while Redis was down")
        if health.ok < health.asked:
            failures.append(f"/healthz failed {health.asked - health.ok} times while down")
        if took is None or took > DISPATCH_WITHIN_S:
            failures.append(f"not all dispatched within {DISPATCH_WITHIN_S:.0f} s of Redis "
                            f"coming back ({left} left at 180 s)" if took is None else
                            f"all dispatched only {took:.1f} s after Redis came back")
        return row.fail(failures)


def _post_spread(world: World, items: list[dict], start: float, over_s: float
                 ) -> list[tuple[int, str, float]]:
    """POST each item to the web's webhook at its moment, spread evenly over `over_s`
    seconds from `start`, as a sender would (many at once when answers are slow);
    (status, outcome, seconds to answer) each, once all are answered."""
    def post(k: int) -> tuple[int, str, float]:
        _sleep_until(start + over_s * k / max(1, len(items)))
        began = time.monotonic()
        status, outcome = world.deliver_webhooks([items[k]])[0]
        return status, outcome, time.monotonic() - began

    with ThreadPoolExecutor(SENDERS) as pool:
        return list(pool.map(post, range(len(items))))


def _median(answers: list[tuple[int, str, float]]) -> float:
    times = sorted(a[2] for a in answers)
    return times[len(times) // 2] if times else 0.0


def _in_ledger(db: Database, codes: list[str]) -> int:
    """How many of `codes` have a hand-off and its post to the carrier in the ledger."""
    with db.unit_of_work() as s:
        found = s.scalars(
            select(Handoff.dossier_code).join(Job, Job.handoff_id == Handoff.id)
            .where(Job.kind == JobKind.POST_ORDER, Job.state != JobState.DEAD)).all()
    return len(set(codes) & set(found))


def _undispatched(db: Database, codes: list[str]) -> int:
    """Codes whose hand-off is missing or not yet accepted by the post office."""
    with db.unit_of_work() as s:
        sent = set(s.scalars(select(Handoff.dossier_code).where(
            Handoff.status.not_in(NOT_DISPATCHED))).all())
    return len(set(codes) - sent)


def _sleep_until(moment: float) -> None:
    left = moment - time.monotonic()
    if left > 0:
        time.sleep(left)


class _HealthProbe:
    """Asks the web's /healthz twice a second in a thread; counts the answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.asked = self.ok = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.asked += 1
            try:
                self.ok += httpx.get(self.url, timeout=5).status_code == 200
            except httpx.HTTPError:
                pass
            self._stop.wait(0.5)


SCENARIO = Scenario(number=3, name=NAME,
                    full={"handoffs": 1000, "down_s": 30},
                    short={"handoffs": 150, "down_s": 8}, run=run)
