"""A second lane for the scenarios that mostly wait (`Scenario.mostly_waits`: a fault held
for a fixed time, an outage of five minutes, three silences of 30 s, a full disk, a
partition, PostgreSQL away for a minute, replies held past the worker's timeout): they run
in a child `python -m chaos` beside the busy ones, so their waiting overlaps other
scenarios' work instead of adding to the suite's time.

Each scenario still has its own worlds (its own redis-server, PostgreSQL cluster, simulators
and ports, reserved across processes by worker.launch.stack.free_port), so the two lanes
share nothing but the machine's two cores. Sharing them is a harder test, not an easier one:
every bound a scenario checks (recovery within 30 or 60 s, no herd, the quota) holds with
another scenario's processes competing for the CPU. The child writes its rows and its
personal-data findings to a JSON file; a child that dies leaves failed rows, never missing
ones.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from chaos.measure import Row
from chaos.scenarios import SCENARIOS


class SideLane:
    """`python -m chaos --only <numbers> --rows-json F` started now; `rows()` waits for it."""

    def __init__(self, numbers: list[int], *, short: bool, pii: bool, keep: bool) -> None:
        self.numbers = numbers
        fd, name = tempfile.mkstemp(prefix="chaos-side-", suffix=".json")
        os.close(fd)
        self.out = Path(name)
        cmd = [sys.executable, "-m", "chaos", "--lanes", "1", "--rows-json", str(self.out),
               "--only", ",".join(map(str, numbers))]
        cmd += ["--short"] * short + ["--no-pii"] * (not pii) + ["--keep"] * keep
        self.proc = subprocess.Popen(cmd)

    def rows(self) -> tuple[list[Row], list[str]]:
        """Its rows and personal-data findings, once it ends."""
        code = self.proc.wait()
        try:
            data = json.loads(self.out.read_text(encoding="utf-8"))
            return [Row(**r) for r in data["rows"]], list(data["pii"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why = RuntimeError(f"the second lane's process ended with exit code {code} "
                               f"and left no rows ({type(exc).__name__})")
            return [Row.crashed(SCENARIOS[n].name, why, n) for n in self.numbers], []
        finally:
            self.out.unlink(missing_ok=True)

    def stop(self) -> None:
        """On the way out after an error or Ctrl-C: the child and its worlds stop too."""
        if self.proc.poll() is None:  # SIGINT: its `finally` blocks stop its worlds
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.out.unlink(missing_ok=True)


def write_rows(path: Path, rows: list[Row], pii_found: list[str] | None) -> None:
    """The child's answer to its parent (see SideLane.rows)."""
    data: dict[str, Any] = {"rows": [dataclasses.asdict(r) for r in rows],
                            "pii": pii_found or []}
    path.write_text(json.dumps(data), encoding="utf-8")


def split(numbers: list[int], lanes: int) -> tuple[list[int], list[int]]:
    """(this process's scenarios, the second lane's): the waiting ones go to the second
    lane when there are two lanes and busy scenarios to overlap them with."""
    waiting = [n for n in numbers if SCENARIOS[n].mostly_waits]
    busy = [n for n in numbers if n not in waiting]
    if lanes < 2 or not waiting or not busy:
        return numbers, []
    return busy, waiting


def describe(rows: list[Row], beside: list[int]) -> str:
    """How the run's time was spent, for the machine section of bench/CHAOS.md."""
    added = sum(r.elapsed_s for r in rows) / 60
    if not beside:
        return f"- Lanes: one (scenario times added up: {added:.1f} min)"
    busy = sum(r.elapsed_s for r in rows if r.number not in beside) / 60
    waiting = sum(r.elapsed_s for r in rows if r.number in beside) / 60
    listed = ("scenario " if len(beside) == 1 else "scenarios ") + ", ".join(map(str, beside))
    return (f"- Lanes: two ({listed}, which mostly wait on a held fault, in a "
            f"second process beside the others: {waiting:.1f} min there, {busy:.1f} min in "
            f"the first; scenario times added up: {added:.1f} min)")
