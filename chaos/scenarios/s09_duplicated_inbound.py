"""9. Duplicated inbound: every one-stop webhook and every carrier status push delivered
several times at once (the same message id / transaction id): each taken once, every copy
answered 2xx.

The one-stop's items come only by webhook here (its feed is not polled), so "taken once" is
countable: one "created" per item, the other copies "duplicate". The post office pushes each
status `copies` times at once to the agencies that registered a push URL (the simulator's
push_copies), racing its own feed. Time to recover: none (no fault ends).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.db.models import Handoff, StatusLogEntry
from worker.domain.statuses import REPEATABLE

NAME = "Duplicated inbound"


def applied_twice(db: Database) -> int:
    """(hand-off, status) applied more than once, for a status that is not repeatable."""
    with db.unit_of_work() as s:
        rows = s.execute(
            select(Handoff.id, StatusLogEntry.status, func.count())
            .join(Handoff, Handoff.id == StatusLogEntry.handoff_id)
            .where(StatusLogEntry.applied.is_(True))
            .group_by(Handoff.id, StatusLogEntry.status)).all()
    return sum(1 for _, status, n in rows if n > 1 and status not in REPEATABLE)


def _pushes_settled(world: World, quiet_s: float = 3.0, timeout: float = 60) -> dict:
    """The carrier's stats once its pusher has sent nothing new for `quiet_s` seconds."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        stats = world.stack.carrier_admin("stats")
        mark = (stats["pushes_sent"], stats["pushes_resent"], stats["events"])
        if mark != last:
            last, since = mark, time.monotonic()
        elif time.monotonic() - since >= quiet_s or time.monotonic() > deadline:
            return stats
        time.sleep(0.5)


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, copies = int(size["handoffs"]), int(size["copies"])
    with world_factory(extra_env={"HANDOFF_POLL_ONESTOP_EVERY": "3600"}) as world:
        world.start()
        hooks = world.stack.web_url + "hooks/carrier/"
        targets = {a["customer_code"]: [hooks + code, a["push_secret"]]
                   for code, a in world.agencies.items() if a.get("push_secret")}
        world.stack.carrier_admin("faults", {"push_targets": targets, "push_copies": copies,
                                             "return_rate": 0.1})
        codes = world.seed(n, via="webhook", copies=copies)
        answers = world.webhook_answers
        world.wait_all_final(codes, timeout=max(120, n))
        world.wait_drained(60)
        stats = _pushes_settled(world)
        outcomes = Counter(outcome for _, outcome in answers)
        not_2xx = [status for status, _ in answers if not 200 <= status < 300]
        twice = applied_twice(world.db())
        row = world.verdict(
            NAME, codes, None,
            notes=f"{len(answers)} webhook posts ({copies} × {n}): {dict(outcomes)}; "
                  f"{stats['pushes_sent']} carrier pushes × {copies} copies, "
                  f"{stats['push_copies_not_2xx']} copies not 2xx "
                  f"(answers {stats.get('push_copy_answers', {})}); "
                  f"{twice} milestones applied twice")
        problems = []
        if not_2xx:
            problems.append(f"{len(not_2xx)} webhook copies answered {Counter(not_2xx)}")
        if outcomes.get("created") != n:
            problems.append(f"{outcomes.get('created', 0)} webhook items created for {n}")
        if stats["push_copies_not_2xx"]:
            problems.append(f"{stats['push_copies_not_2xx']} push copies not answered 2xx")
        if not stats["pushes_sent"]:
            problems.append("the post office pushed nothing")
        if twice:
            problems.append(f"{twice} milestones applied twice")
        return row.fail(problems)


SCENARIO = Scenario(number=9, name=NAME, full={"handoffs": 300, "copies": 3},
                    short={"handoffs": 40, "copies": 3}, run=run)
