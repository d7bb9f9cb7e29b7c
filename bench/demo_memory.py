"""Benchmark 7's second half: the memory of `make demo` whole (goal ≤ 400 MB).

    python -m bench.demo_memory [--count 24]

Runs `handoff demo --count N` (everything on the embedded default: both simulators, the
worker with its pool and the beat it forks (`handoff worker --beat`), web and the demo's
own process) and reads every process of
its tree from /proc every 0.2 s. Two sums are kept at their peaks: the resident memory
(RSS, which counts a page shared by a parent and its forked children once in each) and the
proportional set size (PSS, each shared page split among the processes sharing it: what
the whole holds, a little less for the pages of libraries it shares with processes outside
the tree). The goal is read on PSS, the memory the machine gives the demo;
the RSS sum is printed beside it. The bound is the goal's 400 MB, in the same run nothing
else is needed: the ratio is the peak over 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cpu_roles import read_procs

GOAL_MB = 400.0


def _tree(root: int) -> list[int]:
    """`root` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for pid, proc in read_procs().items():
        children.setdefault(proc.parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _memory_kb(pid: int) -> tuple[int, int, str]:
    """(RSS, PSS) in kB and the command line of one process; zeros once it has ended."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return 0, 0, ""
    fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:]
              if line.split(":")[0] in ("Rss", "Pss")}
    return fields.get("Rss", 0), fields.get("Pss", 0), cmd


def _role(cmd: str) -> str:
    words = cmd.split()
    if "worker.cli" in words or any(w.endswith("/handoff") for w in words):
        after = words[words.index("worker.cli") + 1:] if "worker.cli" in words else words[2:]
        return " ".join(after[:2]) or "handoff"
    return words[0].rsplit("/", 1)[-1] if words else "?"


def demo_memory(count: int = 24) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    with tempfile.TemporaryDirectory(prefix="demo-memory-") as cwd:
        started = time.monotonic()
        log = Path(cwd) / "demo.out"
        with log.open("wb") as out:  # (a pipe read only at the end could fill and block it)
            proc = subprocess.Popen([sys.executable, "-m", "worker.cli", "demo", "--count",
                                     str(count)], cwd=cwd, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
            try:
                peaks = _watch(proc)
            finally:
                if proc.poll() is None:  # interrupted: the demo stops its own processes
                    proc.terminate()
                    proc.wait(30)
        tail = log.read_text(encoding="utf-8", errors="replace")[-300:]
    peak_rss, peak_pss, processes, by_role = peaks
    return {"count": count, "exit": proc.returncode, "seconds": round(time.monotonic()
                                                                        - started, 1),
            "processes": processes, "peak_pss_mb": round(peak_pss / 1024, 1),
            "peak_rss_sum_mb": round(peak_rss / 1024, 1), "goal_mb": GOAL_MB,
            "pss_over_goal": round(peak_pss / 1024 / GOAL_MB, 2),
            "peak_pss_by_process_mb": {k: round(v / 1024, 1) for k, v in
                                       sorted(by_role.items(), key=lambda kv: -kv[1])},
            "demo_tail": tail}


def _watch(proc: subprocess.Popen[bytes]) -> tuple[int, int, int, dict[str, int]]:
    """Until `proc` ends: the peaks of its tree's RSS and PSS sums (kB), the most processes
    seen at once, and each process's peak PSS."""
    peak_rss = peak_pss = processes = 0
    by_role: dict[str, int] = {}
    while proc.poll() is None:
        rss = pss = 0
        seen = _tree(proc.pid)
        for pid in seen:
            r, p, cmd = _memory_kb(pid)
            if not cmd:  # ended meanwhile
                continue
            rss, pss = rss + r, pss + p
            role = f"{_role(cmd)} (pid {pid})"
            by_role[role] = max(by_role.get(role, 0), p)
        processes = max(processes, len(seen))
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.2)
    return peak_rss, peak_pss, processes, by_role


def report(r: dict[str, Any]) -> str:
    parts = ", ".join(f"{k} {v} MB" for k, v in r["peak_pss_by_process_mb"].items())
    verdict = "met" if r["exit"] == 0 and r["peak_pss_mb"] <= GOAL_MB else "not met"
    return (f"`handoff demo --count {r['count']}` (exit {r['exit']}, {r['seconds']} s, "
            f"{r['processes']} processes at most): peak of the whole tree's PSS "
            f"**{r['peak_pss_mb']} MB** ({r['pss_over_goal']} of the 400 MB goal: {verdict}); "
            f"the sum of RSS, which counts pages shared after a fork once per process, "
            f"{r['peak_rss_sum_mb']} MB. Each process's peak PSS: {parts}.")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=24)
    r = demo_memory(p.parse_args().count)
    print(json.dumps(r, ensure_ascii=False))
    print(report(r))
    return 0 if r["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
