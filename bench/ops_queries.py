"""Benchmark 6: the ops queries on PostgreSQL with 1,000,000 log events and 200,000 hand-offs.

Run: .venv/bin/python bench/ops_queries.py [--events 1000000 --handoffs 200000] [--out FILE]
(PostgreSQL at TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test).

A fresh database at the latest schema is seeded in SQL on the server (bench/pg_seed.py
seed_ops: a year of a province's hand-offs, their log, ledger and attempts, then the real
SLA pass marks the late and stuck ones). Then the code ops use is called as it is, each
call in its own read-only unit of work (uow.read, as the CLI and the pages open one):
- timeline by dossier code: `handoff status CODE` (reports.find_handoffs, then timeline);
- search by phone: /ops/search (ops_queries.search), phones typed in several forms;
- late/stuck list: on /ops (open_breaches and its count) and `handoff stuck` (sla.stuck);
- overview page: GET /ops of the real web app in process (ASGI), logged in as ops: the
  server's time for the whole page (session, queries, template); and oq.overview alone.
A tenth of the codes and phones exist nowhere. Goals are the issue's, against p99 (the
page's: its server time). The baseline is the same calls in the same run with the query's
supporting index dropped (built again after), or for the late lists, whose index is the
primary key of handoffs, with the planner's index scans off. Every statement a call sends
is captured (before_cursor_execute) and run again under EXPLAIN ANALYZE: the table names
every index they use and any big table one of them reads whole.
"""
# ruff: noqa: E402  (the imports below must come after the path is set)

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # this checkout's worker, not the one an editable install names
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from bench.pg_plans import (
    Plan,
    captured,
    explain,
    table_rows,
    without_index,
    without_index_scans,
)
from bench.pg_seed import fresh_database, seed_ops
from worker.bootstrap import build_runtime
from worker.db.engine import Database
from worker.domain.statuses import Status
from worker.launch.heap import freeze_started_heap
from worker.service.access.users import add_user
from worker.service.flow import sla
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.service.views import ops_queries as oq
from worker.service.views.reports import find_handoffs, timeline
from worker.settings import Settings
from worker.web.app import create_app

PASSWORD = "bench-password-123"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PAGE = "overview page (GET /ops, in process)"
NO_INDEX = "index scans"  # a baseline with the planner's index scans off (its index: a pkey)


@dataclass(frozen=True)
class Spec:
    name: str
    goal_ms: float
    index: str  # its supporting index, dropped for the baseline (or NO_INDEX)
    call: Callable[[Session, str], Any] | None  # None: the page, through the web app
    keyed: bool = False  # called with the codes or phones, else repeated as it is


def _timeline(s: Session, code: str) -> Any:
    return [timeline(s, h) for h in find_handoffs(s, code)]  # as `handoff status CODE`


def _late_page(s: Session, _: str) -> Any:
    return oq.open_breaches(s), oq.count_open_breaches(s)


SPECS = (
    Spec("timeline by dossier code (`handoff status`)", 10, "ix_status_log_handoff",
         _timeline, keyed=True),
    Spec("search by phone (/ops/search)", 50, "ix_handoffs_citizen_phone",
         lambda s, q: oq.search(s, q), keyed=True),
    Spec("late/stuck list on /ops (100 worst + count)", 100, NO_INDEX, _late_page),
    Spec("late/stuck list (`handoff stuck`, all open)", 100, NO_INDEX,
         lambda s, _: sla.stuck(s)),
    Spec(PAGE, 300, "ix_handoffs_ready_at", None),
    Spec("overview data (ops_queries.overview)", 300, "ix_handoffs_ready_at",
         lambda s, _: oq.overview(s)),
)


@dataclass
class Row:
    spec: Spec
    times: list[float]
    base: list[float] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)


def pct(values: list[float], p: float) -> float:
    found = oq.percentile(values, p)
    return found if found is not None else float("nan")


def _keys(db: Database, n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """n dossier codes and n phones as ops type them, an existing one first (the call whose
    statements are explained); a tenth of each exists nowhere."""
    with db.engine.connect() as conn:
        top = conn.exec_driver_sql("SELECT max(id) FROM handoffs").scalar_one()
        ids = rng.sample(range(1, top + 1), min(n, top))
        found = conn.execute(text("SELECT dossier_code, citizen_phone FROM handoffs "
                                  "WHERE id = ANY(:ids)"), {"ids": ids}).all()
        missing = max(1, n // 10)
        fresh = [f"08{rng.randrange(10**8):08d}" for _ in range(missing * 2)]
        taken = {p for (p,) in conn.execute(text(
            "SELECT citizen_phone FROM handoffs WHERE citizen_phone = ANY(:p)"), {"p": fresh})}
    real = found[: n - missing]
    codes = [c for c, _ in real] + [f"{c.rsplit('-', 1)[0]}-9{rng.randrange(1000):03d}"
                                    for c, _ in found[:missing]]
    forms = (lambda p: p, lambda p: f"{p[:4]} {p[4:7]} {p[7:]}", lambda p: "+84" + p[1:],
             lambda p: f"{p[:4]}.{p[4:7]}.{p[7:]}")
    phones = [forms[i % 4](p) for i, (_, p) in enumerate(real)]
    phones += [p for p in fresh if p not in taken][:missing]
    for keys in (codes, phones):
        rest = keys[1:]
        rng.shuffle(rest)
        keys[1:] = rest
    return codes, phones


def _web(rt: Runtime) -> TestClient:
    """The real app, logged in as ops through the login form."""
    with rt.db.unit_of_work() as s:
        add_user(s, "ops", PASSWORD, "ops", full_name="Bench Ops")
    client = TestClient(create_app(rt), base_url="https://testserver", follow_redirects=False)
    form = CSRF.search(client.get("/login").text)
    assert form, "no login form"
    r = client.post("/login", data={"csrf": form.group(1), "username": "ops",
                                    "password": PASSWORD})
    assert r.status_code == 303, r.status_code
    return client


def _call(rt: Runtime, client: TestClient, spec: Spec, key: str) -> float:
    started = time.perf_counter()
    if spec.call is None:
        r = client.get("/ops")
        assert r.status_code == 200, r.status_code
    else:
        with uow.read(rt) as s:
            spec.call(s, key)
    return (time.perf_counter() - started) * 1000


def measure(url: str, runs: int = 200, base_runs: int = 30, page_runs: int = 30,
            seed: int = 6) -> list[Row]:
    """Every spec timed, its statements explained, then timed without its index."""
    db = Database(url)
    codes, phones = _keys(db, runs, random.Random(seed))
    keys = {SPECS[0].name: codes, SPECS[1].name: phones}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ops-") as home:
            rt = build_runtime(settings=Settings(home=Path(home), database_url=url), db=db)
            with _web(rt) as client:
                # as `handoff web` does once started: the heap made so far is left out of
                # the collector's passes (worker/launch/heap.py; without it, one call in
                # twenty of `handoff stuck` took a full collection's ~65 ms more)
                freeze_started_heap()
                bench = Bench(rt, client, table_rows(db.engine), base_runs)
                return [bench.row(spec, keys.get(spec.name, [""]),
                                  page_runs if "overview" in spec.name else runs)
                        for spec in SPECS]
    finally:
        db.dispose()


@dataclass
class Bench:
    rt: Runtime
    client: TestClient
    tables: dict[str, int]  # rows per table, for naming big sequential scans
    base_runs: int

    def series(self, spec: Spec, keys: list[str], n: int) -> list[float]:
        use = keys[:n] if spec.keyed else [""] * n
        return [_call(self.rt, self.client, spec, k) for k in use]

    def row(self, spec: Spec, keys: list[str], n: int) -> Row:
        engine = self.rt.db.engine
        self.series(spec, keys, 3)  # warm: caches, the pool, prepared statements
        row = Row(spec, self.series(spec, keys, n))
        with captured(engine) as sent:
            _call(self.rt, self.client, spec, keys[0])
        row.plans = [explain(engine, q, p, self.tables) for q, p in sent]
        if spec.index == NO_INDEX or _has_index(self.rt.db, spec.index):
            with (without_index_scans(engine) if spec.index == NO_INDEX
                  else without_index(engine, spec.index)):
                self.series(spec, keys, 1)
                row.base = self.series(spec, keys, min(n, self.base_runs))
        return row


def _has_index(db: Database, name: str) -> bool:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"),
                            {"n": name}).scalar_one()


def counts(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            got = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()
                   for t in ("handoffs", "status_log", "jobs", "attempts", "sla_breaches")}
            got["open"] = conn.exec_driver_sql(
                "SELECT count(*) FROM sla_breaches WHERE cleared_at IS NULL").scalar_one()
            got["not_final"] = conn.exec_driver_sql(
                "SELECT count(*) FROM handoffs WHERE status NOT IN ('delivered', 'returned', "
                "'cancelled')").scalar_one()
            got["attention"] = conn.execute(text(
                "SELECT count(*) FROM handoffs WHERE status = :s"),
                {"s": Status.NEEDS_ATTENTION.value}).scalar_one()
            got["server"] = conn.exec_driver_sql("SHOW server_version").scalar_one()
        return got
    finally:
        db.dispose()


def _f(x: float) -> str:
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    """The report: one table row per query, then every statement's plan."""
    c = meta["counts"]
    lines = [
        "## Benchmark 6: ops queries on PostgreSQL", "",
        f"{c['status_log']:,} log events, {c['handoffs']:,} hand-offs ({c['not_final']:,} not "
        f"final, {c['attention']:,} needing attention), {c['jobs']:,} ledger rows, "
        f"{c['attempts']:,} attempts, {c['sla_breaches']:,} SLA breaches ({c['open']:,} open); "
        f"PostgreSQL {c['server']}; seeded in {meta['seed_s']:.0f} s; code at "
        f"{meta['commit']}; {os.cpu_count()} CPUs, load average {meta.get('load', '?')}. "
        f"Command: `{meta['command']}`.", "",
        "Times in ms, wall clock of each call in its own read-only unit of work (the page: "
        "its GET through the app in process). Baseline: the same calls without the index "
        "named (dropped), or with the planner's index scans off; ratio = baseline p99 / p99.",
        "",
        "| query | runs | p50 | p99 | goal | p99/goal | baseline p99 (index dropped) | ratio "
        "| indexes used (every statement) | big tables read whole |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|---|"]
    for r in rows:
        p99 = pct(r.times, 99)
        base = (f"{_f(pct(r.base, 99))} (without {r.spec.index}, {len(r.base)} runs)"
                if r.base else f"n/a ({r.spec.index} not in the schema)")
        ratio = f"{pct(r.base, 99) / p99:.1f}x" if r.base else "n/a"
        used = dict.fromkeys(i for p in r.plans for i in p.indexes)
        seqs = dict.fromkeys(t for p in r.plans for t in p.seq_scans)
        lines.append(
            f"| {r.spec.name} | {len(r.times)} | {_f(pct(r.times, 50))} | {_f(p99)} | "
            f"{r.spec.goal_ms:g} | {p99 / r.spec.goal_ms:.2f} | {base} | {ratio} | "
            f"{', '.join(used) or 'none'} | {', '.join(seqs) or 'none'} |")
    lines += ["", "### EXPLAIN ANALYZE of each statement sent (one call)", ""]
    for r in rows:
        lines.append(f"- **{r.spec.name}**")
        for p in r.plans:
            lines.append(f"  - {p.ms:.2f} ms, {p.summary()}: `{p.sql[:150]}`")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--handoffs", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=365, help="ready over this many days")
    parser.add_argument("--runs", type=int, default=200, help="codes, phones, list calls")
    parser.add_argument("--baseline-runs", type=int, default=30)
    parser.add_argument("--page-runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    with fresh_database() as url:
        started = time.perf_counter()
        seed_ops(url, args.handoffs, args.events, args.days)
        seed_s = time.perf_counter() - started
        rows = measure(url, args.runs, args.baseline_runs, args.page_runs)
        meta = {"counts": counts(url), "seed_s": seed_s, "commit": commit,
                "load": f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
                "command": " ".join(["bench/ops_queries.py", *sys.argv[1:]])}
    text = markdown(rows, meta)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
