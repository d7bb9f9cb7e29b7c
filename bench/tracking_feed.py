"""Benchmark 5 of the performance issue: a backlog of carrier tracking events applied by the
worker's own poll, then the push-backs it queued drained to the one-stop.

N events wait at the post office (the carrier simulator, its own process over loopback)
for about N/6 hand-offs that have orders there: picked up, in transit twice, at the
delivery office, delivered, and for half of them the two fee events. The hand-offs are
made in SQL (bench/pg_seed.py) on a fresh PostgreSQL database; the orders are posted by
the worker's carrier client. Then, in this process and without Celery (a bell that only
remembers what it was asked to ring), on a runtime built by worker.bootstrap:

- baseline: the same client fetches and parses every page of the feed, applying nothing
  (what the HTTP side and the simulator allow);
- apply: feeds.poll_carrier, the beat's task body, until the feed is read to its end:
  state machine, log rows, push-back rows, the cursor committed with each chunk of a page;
- drain: the rung push-backs run by together.run_jobs, bell messages of `job_batch` rows on
  `job_threads` threads one after another (one pool process's share), against the one-stop
  simulator, for a window of seconds (a rate: the whole backlog may take longer); beside it
  that simulator's own rate, the same client on as many threads pushing statuses marked
  late (history only) with no ledger around it.

    python -m bench.tracking_feed --events 20000 [--drain-seconds 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update

from bench.pg_seed import fresh_database, seed_handoffs
from bench.pushbacks import out_of_order
from bench.round_trips import statements
from chaos.measure import pending_jobs
from tests.fakes import ListBell
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.db.models import Handoff, Job, StatusLogEntry
from worker.domain.enums import EventSource, JobKind
from worker.domain.model import Address, CarrierOrder, Contact, StatusPush
from worker.domain.statuses import Direction, Status
from worker.launch.stack import Stack
from worker.service import ledger
from worker.service.flow import feeds
from worker.service.jobs import together
from worker.service.runtime import Runtime
from worker.settings import Settings

GOAL = 5000.0  # events applied per second (the benchmark 5)
FEE = 35_000  # đồng: a hand-off with a fee has two more events (collected, remitted)
AREA = (82, 871)  # the post office's (province, district) of both parties: any will do
QUIET = {"return_rate": 0.0, "pickup_fail_rate": 0.0}  # every parcel on the plain path


def _ready(url: str, db: Database, events: int) -> list[tuple[str, str, str, int]]:
    """Hand-offs for `events` events (5 each, 7 with a fee), accepted by the post office and
    waiting for the courier; (order number, dossier code, direction, fee) of each."""
    count = max(1, events // 6)
    fees = min(count, max(0, events - 5 * count) // 2)
    seed_handoffs(url, count)
    with db.unit_of_work() as s:
        first = s.scalar(select(func.min(Handoff.id))) or 0
        s.execute(update(Handoff).values(
            status=Status.ACCEPTED.value, accepted_at=Handoff.ready_at, final_at=None,
            item_code=None, last_carrier_code=None, cod_amount=0))
        s.execute(update(Handoff).where(Handoff.id < first + fees).values(cod_amount=FEE))
        rows = s.execute(select(Handoff.order_number, Handoff.dossier_code,
                                Handoff.direction, Handoff.cod_amount).order_by(Handoff.id))
        return [(str(n), c, d, f) for n, c, d, f in rows]


def _order(number: str, direction: str, fee: int) -> CarrierOrder:
    """The order of a seeded hand-off (no personal data: the bench's own placeholders)."""
    desk = Contact("Bộ phận Một cửa", "02773650123",
                   Address("Trung tâm Phục vụ hành chính công", "82", "30226", carrier_area=AREA))
    citizen = Contact("Người nhận", "0912345678",
                      Address("Số 1, ấp Tân Lộc", "82", "30226", carrier_area=AREA))
    pickup = direction == Direction.PICKUP
    return CarrierOrder(number, Direction(direction), sender=citizen if pickup else desk,
                        receiver=desk if pickup else citizen, cod_amount=fee,
                        description="benchmark 5")


def _runtime(stack: Stack, url: str, bell: ListBell) -> Runtime:
    """The worker's runtime on the stack's environment (the settings a worker there would
    read), the database given, no quota in the way, the bell given."""
    env = {k.removeprefix("HANDOFF_").lower(): v for k, v in stack.env().items()
           if k.startswith("HANDOFF_")}
    settings = Settings.model_validate({**env, "database_url": url,
                                        "carrier_quota_per_second": 10_000})
    return build_runtime(settings, Database(url), bell=bell)


def _fetch_all(rt: Runtime) -> tuple[int, str, float]:
    """Every page of the default account's feed fetched and parsed, nothing applied: (events,
    the last cursor, seconds)."""
    carrier, size = rt.carrier_for(rt.default_account), rt.settings.carrier_page_size
    started, cursor, total = time.monotonic(), None, 0
    while True:
        page = carrier.fetch_events(cursor, size)
        total, cursor = total + len(page.events), page.last_id or cursor
        if len(page.events) < size:
            return total, cursor or "", time.monotonic() - started


def _backends_cpu(db: Database) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving this database (their
    /proc entries: the server is on this machine), to tell who was on the cores."""
    with db.unit_of_work() as s:
        pids = s.scalars(text("SELECT pid FROM pg_stat_activity "
                              "WHERE datname = current_database()")).all()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _counts(db: Database) -> dict[str, Any]:
    with db.unit_of_work() as s:
        def count(model: Any, *where: Any) -> int:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)
        return {"log_rows": count(StatusLogEntry,
                                  StatusLogEntry.source == EventSource.CARRIER_FEED),
                "push_rows": count(Job, Job.kind == JobKind.PUSH_STATUS),
                "delivered": count(Handoff, Handoff.status == Status.DELIVERED.value),
                "cursor": feeds.get_cursor(s, feeds.CARRIER_CURSOR) or ""}


def _onestop_rate(rt: Runtime, ready: list[tuple[str, str, str, int]], n: int) -> float:
    """Pushes/s the one-stop simulator answers to the worker's client on `job_threads`
    threads, no ledger: late statuses under the bench's own event ids (history only)."""
    at = datetime.now(UTC)
    pushes = [StatusPush(f"bench5-{i}", code, Direction(direction), Status.PICKED_UP, None, 1,
                         "", at, late=True)
              for i, (_, code, direction, _) in
              ((i, ready[i % len(ready)]) for i in range(n))]
    started = time.monotonic()
    with ThreadPoolExecutor(rt.settings.job_threads) as pool:
        list(pool.map(rt.onestop.push_status, pushes))
    return n / (time.monotonic() - started)


def _drain(rt: Runtime, bell: ListBell, window: float) -> float:
    """Run what the bell was asked to ring, `job_batch` rows a message, messages one after
    another, until no row is pending or `window` seconds have passed (rows the bell missed
    are taken as the sweep would); the seconds it ran."""
    started, size = time.monotonic(), rt.settings.job_batch
    queue: deque[int] = deque()
    while time.monotonic() - started < window:
        queue.extend(bell.take())
        if not queue:
            if pending_jobs(rt.db) == 0:
                break
            with rt.db.unit_of_work() as s:
                queue.extend(i for i, _ in ledger.due_jobs(s, 0.0, limit=5000))
            if not queue:
                time.sleep(0.1)  # a row waiting for its retry
        message = [queue.popleft() for _ in range(min(size, len(queue)))]
        if message:
            together.run_jobs(rt, message)
            together.settled()  # its last answers, settled by the process's settler
    return time.monotonic() - started


def tracking_feed(events: int, *, drain_window: float = 30.0, timeout: float = 900.0
                  ) -> dict[str, Any]:
    """Run benchmark 5 with about `events` events; its figures. The push-backs are drained
    for at most `drain_window` seconds (0: not at all): a rate, not the whole backlog."""
    home = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    out: dict[str, Any] = {"events_asked": events}
    with fresh_database() as url, Stack(home, speed=1.0, agencies_file=None) as stack:
        stack.database_url = url
        stack.start_simulators()
        stack.carrier_admin("faults", QUIET)
        bell = ListBell()
        rt = _runtime(stack, url, bell)
        try:
            _run(stack, url, rt, bell, events, drain_window, timeout, out)
        finally:
            rt.db.dispose()
    return out


def _run(stack: Stack, url: str, rt: Runtime, bell: ListBell, events: int,  # noqa: PLR0913
         drain_window: float, timeout: float, out: dict[str, Any]) -> None:
    """The benchmark's steps on a started stack; the figures into `out`."""
    ready = _ready(url, rt.db, events)
    for i in range(0, len(ready), 2000):  # the dossiers the push-backs will name
        stack.onestop_admin("handoffs", {"items": [
            {"dossierCode": code, "type": "result_ready"} for _, code, _, _ in
            ready[i:i + 2000]]})
    carrier = rt.carrier_for(rt.default_account)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda r: carrier.post_order(_order(r[0], r[2], r[3])), ready))
    out["seed_posts_s"] = round(time.monotonic() - started, 1)
    stack.carrier_admin("advance", {"seconds": 7 * 86400})  # every parcel delivered
    held = int(stack.carrier_admin("stats")["events"])
    fetched, last_id, fetch_s = _fetch_all(rt)
    db_cpu = _backends_cpu(rt.db)
    started, cpu = time.monotonic(), time.process_time()
    applied = 0
    with statements(rt.db) as sent:
        while time.monotonic() - started < timeout and (n := feeds.poll_carrier(rt)):
            applied += n
    apply_s, cpu = time.monotonic() - started, time.process_time() - cpu
    db_cpu = _backends_cpu(rt.db) - db_cpu
    out.update(_counts(rt.db))
    out.update(
        handoffs=len(ready), events=held, fetched=fetched, applied=applied,
        page_size=rt.settings.carrier_page_size,
        chunk=f"{feeds.CARRIER_CHUNK}-{feeds.CARRIER_CHUNK_MAX}",
        fetch_s=round(fetch_s, 2), fetch_rate=round(fetched / fetch_s, 1),
        apply_s=round(apply_s, 2), apply_rate=round(applied / apply_s, 1),
        apply_cpu_share=round(cpu / apply_s, 2), db_cpu_share=round(db_cpu / apply_s, 2),
        cursor_at_end=out["cursor"] == last_id, rung=len(bell.rung),
        statements_per_event=round(sum(sent.values()) / max(applied, 1), 1))
    out["vs_fetch"] = round(out["apply_rate"] / max(out["fetch_rate"], 0.1), 3)
    out["vs_goal"] = round(out["apply_rate"] / GOAL, 3)
    if drain_window > 0 and out["push_rows"]:
        sample = min(out["push_rows"], 2000)
        out["onestop_rate"] = round(_onestop_rate(rt, ready, sample), 1)
        drain_s = _drain(rt, bell, drain_window)
        stats = stack.onestop_admin("stats")
        out["out_of_order"] = out_of_order(stack.onestop_admin("events")["events"])
        out.update(drain_s=round(drain_s, 2), pushed=int(stats["events"]) - sample,
                   sent_twice=int(stats["duplicate_deliveries"]),
                   left_pending=pending_jobs(rt.db))
        out["drain_rate"] = round(out["pushed"] / drain_s, 1)
        out["drain_vs_onestop"] = round(out["drain_rate"] / out["onestop_rate"], 3)


def report(r: dict[str, Any]) -> str:
    """The markdown section bench/run.py can print."""
    lines = [
        f"{r['events']:,} carrier events waiting for {r['handoffs']:,} hand-offs; the worker's "
        f"own poll (feeds.poll_carrier, pages of {r['page_size']}, {r['chunk']} events a "
        f"transaction, sized by time) in one process, no Celery, the carrier simulator in "
        f"its own process.",
        "", "| phase | events | seconds | events/s |", "|---|---|---|---|",
        f"| fetch and parse only (baseline) | {r['fetched']:,} | {r['fetch_s']} | "
        f"{r['fetch_rate']:,} |",
        f"| fetch and apply (state machine, log, push-back rows, cursor) | {r['applied']:,} | "
        f"{r['apply_s']} | {r['apply_rate']:,} |", "",
        f"Applied at **{r['apply_rate']:,} events/s**: {r['vs_goal']:.2f} of the goal (5,000/s), "
        f"{r['vs_fetch']:.2f} of what fetching alone allows. CPU over that time: this "
        f"process {r['apply_cpu_share']:.0%} of a core, its PostgreSQL backends "
        f"{r['db_cpu_share']:.0%}; {r['statements_per_event']} SQL statements per event "
        f"(savepoints included). {r['log_rows']:,} log rows from the feed for "
        f"{r['events']:,} events ({'' if r['log_rows'] == r['events'] else 'NOT '}each "
        f"once), {r['push_rows']:,} push-back rows, {r['delivered']:,}/{r['handoffs']:,} hand-offs "
        f"delivered, cursor at the feed's end: {'yes' if r['cursor_at_end'] else 'NO'}."]
    if "drain_rate" in r:
        lines += ["", f"Push-backs drained by the job runner (one pool process's share: bell "
                  f"messages one after another): {r['pushed']:,} of {r['push_rows']:,} in "
                  f"{r['drain_s']} s, **{r['drain_rate']:,}/s**, {r['drain_vs_onestop']:.2f} "
                  f"of the one-stop simulator's own rate ({r['onestop_rate']:,}/s to the same "
                  f"client on as many threads, no ledger); sent twice {r['sent_twice']}, out "
                  f"of order {r['out_of_order']}, left pending {r['left_pending']:,}."]
    else:
        lines += ["", "Push-back drain: not run."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--drain-seconds", type=float, default=30.0,
                   help="how long to drain the push-backs (0: not at all)")
    a = p.parse_args(argv)
    print(report(tracking_feed(a.events, drain_window=a.drain_seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
