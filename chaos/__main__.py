"""`python -m chaos [--short] [--only 1,3,6] [--out bench/CHAOS.md] [--no-pii] [--keep]
[--lanes 1|2]`: run the scenarios one after another, each in its own worlds under a
temporary folder (with two lanes, the default, those that mostly wait on a held fault run
one after another in a second process beside the rest: chaos/lanes.py), print the table,
write it with the machine it ran on to --out, exit 1 unless every scenario ran and
passed. A scenario that raises is a failed row (the error in its notes); one the machine
cannot stage is "not run: why", and the run exits 1 (it proves nothing). Last, unless
--no-pii: the row "Personal data", failed when any seeded marker (chaos/pii.py) showed in a
log, a page, a CSV, a metric or an error.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from chaos import lanes, pii
from chaos.measure import Row, Scenario
from chaos.scenarios import SCENARIOS, missing
from chaos.servers import pg_bin, redis_bin
from chaos.world import World

HEADER = ("#", "scenario", "hand-offs", "lost", "duplicate orders", "duplicate push-backs",
          "dead letters", "redelivered", "time to recover", "result")


def run_scenario(scenario: Scenario, size: dict, home: Path, pii_found: list[str] | None
                 ) -> Row:
    """One scenario in its own folder; never raises (a crash is a failed row)."""
    if why := missing(scenario):
        return Row.skipped(scenario.name, why, scenario.number)
    started = time.monotonic()
    home.mkdir(parents=True, exist_ok=True)
    try:
        row = scenario.run(world_factory(home, pii_found), size, home)
    except Exception as exc:
        (home / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        row = Row.crashed(scenario.name, exc)
    row.number = scenario.number
    row.elapsed_s = time.monotonic() - started
    if pii_found is not None and home.exists():
        pii_found.extend(pii.scan_files(home))
    return row


def world_factory(home: Path, pii_found: list[str] | None) -> Callable[..., World]:
    """World(**kwargs) in a fresh folder under `home`; with a PII list, each world is
    scanned live (pages, CSV, metrics, CLI, ledger texts) before it stops."""
    made = [0]

    def make(**kwargs: Any) -> World:
        made[0] += 1
        world = World(home / f"world-{made[0]}", **kwargs)
        if pii_found is not None:
            world.before_stop.append(lambda w: pii_found.extend(_safe_live_scan(w)))
        return world

    return make


def _safe_live_scan(world: World) -> list[str]:
    try:
        return pii.scan_live(world)
    except Exception as exc:  # a world whose store is down at the end: say so, go on
        return [f"(live scan of {world.home} not done: {type(exc).__name__}: {exc})"]


def pii_row(found: list[str], worlds: int) -> Row:
    leaks = [f for f in found if not f.startswith("(live scan")]
    row = Row("Personal data", 0, 0, 0, 0, 0, None,
              notes="; ".join(found[:5]) or f"no marker found ({worlds} scenarios scanned)")
    if leaks:
        row.failed = f"{len(leaks)} places hold a personal-data marker"
    elif len(leaks) < len(found):  # a scan not done is not a clean scan
        row.failed = f"{len(found) - len(leaks)} worlds could not be scanned live"
    return row


def fmt_recover(value: float | None) -> str:
    if value is None:
        return "—"
    return "never" if math.isinf(value) else f"{value:.1f} s"


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        number = str(r.number) if r.number else ""
        if r.not_run is not None:
            cells = [number, r.scenario, *["—"] * 7, f"not run: {r.not_run}"]
        elif not r.handoffs:  # a crashed scenario, or the personal-data row: no figures
            cells = [number, r.scenario, *["—"] * 7, "pass" if r.passed() else "FAIL"]
        else:
            cells = [number, r.scenario, str(r.handoffs), str(r.lost), str(r.duplicate_orders),
                     str(r.duplicate_pushbacks), str(r.dead_letters), str(r.redelivered),
                     fmt_recover(r.recover_s), "pass" if r.passed() else "FAIL"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {r.number or '·'} {r.scenario} ({r.elapsed_s:.0f} s): {r.notes}"
             for r in rows if r.notes]
    return "\n".join(lines + ([""] + notes if notes else []))


def machine(total_s: float) -> str:
    def first(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"

    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    pg = pg_bin()
    redis = redis_bin()
    return "\n".join([
        f"- Date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- CPU: {os.cpu_count()} × {model}",
        f"- RAM: {mem_kb / 1024 / 1024:.1f} GiB",
        f"- Python: {platform.python_version()}",
        f"- PostgreSQL: {first([str(pg / 'postgres'), '--version']) if pg else 'not installed'}",
        f"- Redis: {first([str(redis), '--version']) if redis else 'not installed'}",
        f"- Total run time: {total_s / 60:.1f} min",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaos",
        description="Run the chaos scenarios on real processes and servers; print the table.")
    parser.add_argument("--short", action="store_true", help="the short sizes (make test's)")
    parser.add_argument("--only", default="", help="scenario numbers, e.g. 1,3,6")
    parser.add_argument("--out", type=Path, default=None, help="write the table there too")
    parser.add_argument("--no-pii", action="store_true", help="skip the personal-data scan")
    parser.add_argument("--keep", action="store_true", help="keep the worlds' folders")
    parser.add_argument("--lanes", type=int, choices=(1, 2), default=2,
                        help="2: the scenarios that mostly wait run in a second process "
                             "beside the others (default); 1: all one after another")
    parser.add_argument("--rows-json", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        wanted = {int(x) for x in args.only.split(",") if x.strip()} or set(SCENARIOS)
    except ValueError:
        parser.error(f"--only: {args.only!r} is not a list of scenario numbers (e.g. 1,3,6)")
    unknown = wanted - set(SCENARIOS)
    if unknown:
        parser.error(f"--only: no scenario {sorted(unknown)} (there are {sorted(SCENARIOS)})")
    here, beside = lanes.split(sorted(wanted), args.lanes)
    base = Path(tempfile.mkdtemp(prefix="chaos-"))
    pii_found: list[str] | None = None if args.no_pii else []
    rows: list[Row] = []
    started = time.monotonic()
    side = (lanes.SideLane(beside, short=args.short, pii=not args.no_pii, keep=args.keep)
            if beside else None)
    try:
        for number in here:
            scenario = SCENARIOS[number]
            size = scenario.short if args.short else scenario.full
            print(f"[chaos] {number}. {scenario.name} {size} …", file=sys.stderr, flush=True)
            row = run_scenario(scenario, size, base / f"s{number:02d}", pii_found)
            rows.append(row)
            print(f"[chaos]    {number}. {row.result()} in {row.elapsed_s:.0f} s {row.notes}",
                  file=sys.stderr, flush=True)
        if side is not None:
            side_rows, side_pii = side.rows()
            rows = sorted(rows + side_rows, key=lambda r: r.number)
            if pii_found is not None:
                pii_found.extend(side_pii)
    finally:
        if side is not None:
            side.stop()
    if args.rows_json is not None:  # a second lane: its parent makes the table
        lanes.write_rows(args.rows_json, rows, pii_found)
        if args.keep:
            print(f"[chaos] second lane's worlds kept in {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
        return 0
    if pii_found is not None:
        rows.append(pii_row(pii_found, len(rows)))
    total = time.monotonic() - started
    text = table(rows)
    print(text)
    if args.out is not None:
        size_name = "short" if args.short else "full"
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Chaos suite ({size_name} sizes)\n\n{text}\n\n## Machine\n\n"
                            f"{machine(total)}\n{lanes.describe(rows, beside)}\n",
                            encoding="utf-8")
    if args.keep:
        print(f"[chaos] worlds kept in {base}", file=sys.stderr)
    else:
        shutil.rmtree(base, ignore_errors=True)
    return exit_status(rows)


def exit_status(rows: list[Row]) -> int:
    """0 only when every scenario ran and passed: one that could not run here (a tool
    missing) proves nothing, so it is named on stderr and the run is not a pass."""
    for r in rows:
        if r.not_run is not None:
            print(f"[chaos] scenario {r.number} not run: {r.not_run}", file=sys.stderr)
    return 0 if all(r.passed() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
