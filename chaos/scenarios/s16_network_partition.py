"""16. Network partition between the processes and PostgreSQL while a feed page is applied:
every process reaches PostgreSQL through the suite's TCP proxy; the suite watches
pg_stat_activity (directly, not through the proxy) for a transaction writing the status log
or a cursor, the mark of a feed page being applied, and at that moment cuts the link (every
connection reset, new ones refused), later blackholes it (held open and silent, then
forgotten by the far side: chaos/proxy.py), each for `down_s` seconds.

Afterwards the cursors and the applied events must agree: every carrier event of every
order is in the status log exactly once as read from the feed (none skipped by a cursor
that moved without its page, none read twice by a page applied twice), no milestone applied
twice, and each account's cursor at the last event of its feed. Time to recover: the longest
from the link's return to the next progress.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, text

from chaos import measure
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.db.models import Cursor, StatusLogEntry
from worker.domain.enums import EventSource

NAME = "Partition from PostgreSQL during a feed page"
# a transaction of the world's processes that is writing the log or a cursor: a page
# being applied (the feeds advance their cursor in the transaction that applies the page)
APPLYING = text("""SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()
                     AND xact_start IS NOT NULL
                     AND (query ILIKE '%status_log%' OR query ILIKE '%cursors%')
                     AND query NOT ILIKE '%pg_stat_activity%'""")


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, down_s = int(size["handoffs"]), float(size["down_s"])
    with world_factory(workers=1, proxy_pg=True) as world:
        world.start()
        db = world.db()
        proxy = world.pg_proxy
        codes = world.seed(n)
        caught: list[bool] = []
        recoveries: list[float | None] = []
        for fault in ("cut", "blackhole"):
            measure.time_until(lambda: measure.progress_mark(db) >= 2 * n, 240)
            caught.append(_wait_applying(db, 60))
            getattr(proxy, fault)()
            time.sleep(down_s)
            proxy.forward()
            recoveries.append(measure.seconds_until_progress(db, 180))
        world.wait_all_final(codes, timeout=max(180, n * 0.6))
        world.wait_drained(60)
        orders = world.stack.carrier_admin("stats")["orders_by_number"]
        agree = measure.time_until(lambda: _disagreement(world, db, orders) == [], 60, 1.0)
        problems = _disagreement(world, db, orders)
        if problems:  # the store goes with the world: what disagrees is kept beside its logs
            _dump(world, db, orders, world.home / "disagreement.txt")
        worst = max((r if r is not None else float("inf")) for r in recoveries)
        row = world.verdict(NAME, codes, worst, notes=(
            f"cut then blackhole, {down_s:.0f} s each; a page was being applied when each "
            f"began: {caught}; progress back after "
            + ", ".join("none" if r is None else f"{r:.1f} s" for r in recoveries)
            + f"; cursors and log {'agree' if agree is not None else 'disagree'} over "
            f"{_events(world, orders)[1]} carrier events"))
        failures = problems[:3]
        if any(r is None for r in recoveries):
            failures.append("no progress within 180 s of the link returning")
        exited = world.exited()
        if exited:
            failures.append(f"processes exited (exit codes): {exited}")
        return row.fail(failures)


def _wait_applying(db: Database, timeout: float) -> bool:
    """Wait (polling every 10 ms) for a page being applied; False if none in `timeout`."""
    deadline = time.monotonic() + timeout
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(APPLYING).scalar():
                return True
            conn.rollback()
            time.sleep(0.01)
    return False


def _events(world: World, orders: dict[str, dict]) -> tuple[dict[str, list[dict]], int]:
    """Each order's events as the carrier's feed shows them, and how many in all."""
    views = {number: world.stack.carrier_admin(f"orders/{number}")["events"]
             for number in orders}
    return views, sum(len(v) for v in views.values())


def _disagreement(world: World, db: Database, orders: dict[str, dict]) -> list[str]:
    """What does not agree between the carrier's feed, the status log and the cursors:
    events read fewer or more times than the feeds showing them, milestones applied twice,
    a feed (the default one: every order; each own account: its code's) whose last event
    is no cursor's value."""
    views, _ = _events(world, orders)
    # The simulator's demo default account is tied to no customer code: its feed (cursor
    # "carrier-tracking") shows every order, so an order of an agency with its own account
    # is read by two feeds, each under its own cursor, and logged once by each.
    own = {str(a["customer_code"]) for a in world.agencies.values() if a.get("customer_code")}
    fed: Counter[tuple[str, int]] = Counter()  # (order, second) -> reads owed to the log
    last_by_customer: dict[str, str] = {}
    last = ""
    for number, events in views.items():
        for ev in events:
            code = str(ev["CustomerCode"])
            fed[(number, int(ev["EventTime"]) // 1000)] += 2 if code in own else 1
            oid = ev["_id"]["$oid"]
            last = max(last, oid)
            if code in own:
                last_by_customer[code] = max(last_by_customer.get(code, ""), oid)
    with db.unit_of_work() as s:
        rows = s.execute(select(StatusLogEntry.order_number, StatusLogEntry.occurred_at,
                                StatusLogEntry.status, StatusLogEntry.applied)
                         .where(StatusLogEntry.source == EventSource.CARRIER_FEED)).all()
        applied_rows = s.execute(select(StatusLogEntry.order_number, StatusLogEntry.status,
                                        StatusLogEntry.occurred_at)
                                 .where(StatusLogEntry.applied.is_(True),
                                        StatusLogEntry.order_number != "")).all()
        cursors = {c.name: c.value for c in s.scalars(select(Cursor))}
    logged = Counter((r.order_number, int(r.occurred_at.timestamp())) for r in rows)
    skipped = sum(max(0, k - logged[key]) for key, k in fed.items())
    twice = sum(max(0, logged[key] - k) for key, k in fed.items())
    applied = Counter((r.order_number, r.status, int(r.occurred_at.timestamp()))
                      for r in applied_rows)
    applied_twice = [key for key, k in applied.items() if k > 1]
    out: list[str] = []
    if skipped:
        out.append(f"{skipped} carrier events never read into the log")
    if twice:
        out.append(f"{twice} carrier events read into the log twice")
    if applied_twice:
        out.append(f"{len(applied_twice)} milestones applied twice (e.g. {applied_twice[0]})")
    behind = sorted({last, *last_by_customer.values()} - set(cursors.values()))
    if behind:
        out.append(f"{len(behind)} accounts' feeds end past every cursor (last events "
                   f"{behind[:2]}, cursors {sorted(cursors.values())[:4]})")
    return out


def _dump(world: World, db: Database, orders: dict[str, dict], path: Path) -> None:
    """For each order whose events the log holds fewer or more times than owed: the feed's
    events and every log row of that order (codes, keys, times: no personal data); then
    every quarantine row and the cursors."""
    views, _ = _events(world, orders)
    own = {str(a["customer_code"]) for a in world.agencies.values() if a.get("customer_code")}
    with db.unit_of_work() as s:
        rows = s.execute(select(StatusLogEntry).order_by(StatusLogEntry.id)).scalars().all()
        cursors = {c.name: (c.value, c.updated_at) for c in s.scalars(select(Cursor))}
    by_order: dict[str, list[StatusLogEntry]] = {}
    for r in rows:
        by_order.setdefault(r.order_number, []).append(r)

    def line(r: StatusLogEntry) -> str:
        # a quarantine's parameters name the entry (an event id, an error type); others'
        # may hold text from the carrier, left out of a file kept beside the logs
        params = r.reason_params if r.reason_code == "entry_not_taken" else ""
        return (f"  log #{r.id} {r.source} status={r.status} raw={r.raw_code} "
                f"applied={r.applied} reason={r.reason_code} {params or ''} "
                f"key={r.dedup_key} occurred={r.occurred_at.isoformat()} "
                f"recorded={r.recorded_at.isoformat()}")

    out: list[str] = []
    for number, events in sorted(views.items()):
        owed: Counter[int] = Counter()
        for ev in events:
            owed[int(ev["EventTime"]) // 1000] += 2 if str(ev["CustomerCode"]) in own else 1
        logged = Counter(int(r.occurred_at.timestamp()) for r in by_order.get(number, [])
                         if r.source == EventSource.CARRIER_FEED)
        if all(logged[second] == k for second, k in owed.items()):
            continue
        out.append(f"order {number}: owed {dict(owed)} logged {dict(logged)}")
        out += [f"  feed {ev['_id']['$oid']} code={ev['StatusCode']} "
                f"customer={ev['CustomerCode']} time={ev['EventTime']}" for ev in events]
        out += [line(r) for r in by_order.get(number, [])]
    out.append("quarantined:")
    out += [line(r) for r in rows if r.reason_code == "entry_not_taken"]
    out.append(f"cursors: {cursors}")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


SCENARIO = Scenario(number=16, name=NAME, full={"handoffs": 400, "down_s": 30},
                    short={"handoffs": 100, "down_s": 8}, run=run,
                    mostly_waits=True)
