"""15. Carrier pushes and feed racing: every milestone of the pushing accounts arrives by
push and by feed (the feed held back FEED_LAG_S so pushes run ahead), each push posted
PUSH_COPIES times at once, events out of order and duplicated in the feed, and about 10 % of
all pushes forged (a wrong signature, sent by the scenario itself): each milestone applied
once, pushed back to the one-stop once, no forged one applied.

The paths have no return and no failed pick-up (return_rate = pickup_fail_rate = 0), so
every status is one that happens once; the forged pushes claim a return (push codes 8 and
13) or a delivery, and carry FORGED in their note: a forged push applied shows as a status
the carrier never reported or as that note in the status log. The agency on the default
account (no push product) is told by the feed alone, as in production.
Time to recover: not applicable (no outage): the notes give the seconds from the seeding to
every hand-off final.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from random import Random

import httpx
from sqlalchemy import func, select

from chaos.measure import Row, Scenario
from chaos.world import World
from integrations.carriers.vnpost.wire import lookup_status
from simulators.carrier.push import push_body, signed_push
from worker.db.models import StatusLogEntry
from worker.domain.enums import EventSource
from worker.domain.statuses import REPEATABLE

NAME = "Pushes and feed racing"
FEED_LAG_S = 3.0
PUSH_COPIES = 3
FORGED_SHARE = 0.10
FORGED_CODES = (8, 13, 7)  # returning, returned, delivered (push product codes)
MARK = "FORGED"


def _forge(world: World, rng: Random, pushing: dict[str, str], orders: list[str]) -> int:
    """One push with a wrong signature for a real order; its HTTP status."""
    number = rng.choice(orders)
    agency = pushing[number.split("-")[0]]
    body = push_body(number, rng.choice(FORGED_CODES), datetime.now(UTC), note=f"{MARK} push")
    headers, raw = signed_push(secrets.token_urlsafe(32), body)
    try:
        return httpx.post(f"{world.stack.web_url}hooks/carrier/{agency}", content=raw,
                          headers=headers, timeout=10).status_code
    except httpx.HTTPError:
        return 0


def _milestones(world: World, number: str) -> Counter[str]:
    """What the carrier reported of one order: each status it maps to, once."""
    found: Counter[str] = Counter()
    for doc in world.stack.carrier_admin(f"orders/{number}")["events"]:
        status, _ = lookup_status(doc["StatusCode"])
        if status is not None:
            found[status.value] = found[status.value] + 1 if status in REPEATABLE else 1
    return found


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n = int(size["handoffs"])
    rng = Random(15)
    with world_factory() as world:
        world.start()
        own = {code: a for code, a in world.agencies.items() if a.get("push_secret")}
        hook = world.stack.web_url + "hooks/carrier/"
        world.stack.carrier_admin("faults", {
            "return_rate": 0.0, "pickup_fail_rate": 0.0, "out_of_order_rate": 0.3,
            "duplicate_event_rate": 0.2, "feed_lag_s": FEED_LAG_S, "push_copies": PUSH_COPIES,
            "push_targets": {a["customer_code"]: [hook + code, a["push_secret"]]
                             for code, a in own.items()}})
        codes = world.seed(n)
        seeded_at = time.monotonic()
        # dossier-code prefix (the agency's code) of each pushing agency's orders
        pushing = {code: code for code in own}
        forged: Counter[int] = Counter()
        deadline = time.monotonic() + max(180, n * 1.0)
        last_real, moved = -1, time.monotonic()
        final_after: float | None = None
        # forge along with the real pushes (to orders still on their way where there are
        # any) until every hand-off is final and the carrier's pushes have stopped coming
        while time.monotonic() < deadline:
            stats = world.stack.carrier_admin("stats")
            numbers = stats["orders_by_number"]
            mine = [num for num in numbers if num.split("-")[0] in pushing]
            open_ = [num for num in mine if numbers[num]["final_code"] not in (5, 9)]
            real = stats["pushes_sent"] + stats["pushes_resent"]
            want = math.ceil(real * FORGED_SHARE / (1 - FORGED_SHARE))
            for _ in range(max(0, want - sum(forged.values()))):
                if mine:
                    forged[_forge(world, rng, pushing, open_ or mine)] += 1
            if real != last_real:
                last_real, moved = real, time.monotonic()
            try:
                world.wait_all_final(codes, timeout=0.5)
            except AssertionError:
                continue
            if final_after is None:
                final_after = time.monotonic() - seeded_at
            if time.monotonic() - moved >= 5:  # no push for 5 s: the pusher is done
                break
            time.sleep(0.5)
        world.wait_all_final(codes, timeout=max(60, n * 0.5))
        time.sleep(FEED_LAG_S + 2)  # the last events' feed entries come out after the push
        world.wait_drained(60)

        events = world.stack.onestop_admin("events")["events"]
        told: dict[str, Counter[str]] = {}
        for e in events:
            told.setdefault(e["dossierCode"], Counter())[e["status"]] += 1
        wrong = []
        for code in codes:
            wanted = _milestones(world, f"{code}/R1")
            got = {s: k for s, k in told.get(code, Counter()).items() if s != "accepted"}
            if got != dict(wanted):
                wrong.append(f"{code}: told {got}, carrier {dict(wanted)}")
        with world.db().unit_of_work() as s:
            forged_logged = s.scalar(select(func.count()).select_from(StatusLogEntry).where(
                StatusLogEntry.raw_text.contains(MARK) | StatusLogEntry.notes.contains(MARK)))
            applied = Counter(s.execute(
                select(StatusLogEntry.order_number, StatusLogEntry.status).where(
                    StatusLogEntry.applied.is_(True), StatusLogEntry.source.in_(
                        [EventSource.CARRIER_FEED, EventSource.CARRIER_PUSH]))).all())
            by_source = dict(s.execute(
                select(StatusLogEntry.source, func.count()).where(
                    StatusLogEntry.source.in_([EventSource.CARRIER_FEED,
                                               EventSource.CARRIER_PUSH]))
                .group_by(StatusLogEntry.source)).all())
        twice = [k for k, v in applied.items() if v > 1 and k[1] not in REPEATABLE]
        stats = world.stack.carrier_admin("stats")
        sent = stats["pushes_sent"]
        total_forged = sum(forged.values())
        share = total_forged / (total_forged + sent) if sent + total_forged else 0.0
        row = world.verdict(NAME, codes, None, notes=(
            f"all final {final_after or 0:.0f}s after seeding; {sent} pushes answered "
            f"success (each posted {PUSH_COPIES}x at once; "
            f"{stats.get('push_copies_not_2xx', 0)} copies not 2xx, {stats['pushes_resent']} "
            f"re-sent; answers {stats.get('push_copy_answers', {})}), feed "
            f"{FEED_LAG_S:.0f}s behind, 30 % of paths out of order, 20 % of "
            f"feed events doubled; {total_forged} forged pushes ({share:.0%}), answered "
            f"{dict(forged)}; status-log rows by source {by_source}; milestones applied "
            f"twice: {len(twice)}; forged rows logged: {forged_logged}; dossiers told other "
            f"than the carrier reported: {len(wrong)}"))
        failures = []
        if twice:
            failures.append(f"applied twice: {twice[:3]}")
        if forged_logged or any(200 <= status < 300 for status in forged):
            failures.append(f"a forged push taken: {forged_logged} logged, answers "
                            f"{dict(forged)}")
        if wrong:
            failures.append(f"told other than reported: {wrong[:3]}")
        if share < FORGED_SHARE * 0.8 or sent == 0 or by_source.get(
                EventSource.CARRIER_PUSH, 0) == 0:
            failures.append(f"the race was not staged: {sent} pushes, {share:.0%} forged")
        return row.fail(failures)


SCENARIO = Scenario(number=15, name=NAME, run=run, full={"handoffs": 400},
                    short={"handoffs": 120})
