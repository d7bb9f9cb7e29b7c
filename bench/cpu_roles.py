"""Who was on the cores during a benchmark: the CPU each part of a deployment (chaos.World)
used over a stretch, read from /proc every half second (the processes are on this machine).

The issue asks, where a figure falls short, which resource ran out. The worker's pool
processes, its main process, beat, web, both simulators, PostgreSQL (the postmaster and
its backends), redis-server, the benchmark's own process and the rest of the machine are
each a role: a process is counted under the role of its nearest ancestor that is one (a
pool process under its worker's main process is "pool processes"). A process that ended
between two readings loses at most its last half second.

    with CpuByRole(world) as cpu:
        t0 = time.monotonic(); ...; t1 = time.monotonic()
    cores = cpu.cores(t0, t1)  # {role: cores used on average over the stretch}
    text = cpu_text(cores)  # "machine 1.86 of 2 cores: pool processes 1.30, ..."
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

POOL = "pool processes"
OTHER = "the rest of the machine"
_HZ = os.sysconf("SC_CLK_TCK")
_ROLE_OF_NAME = (("worker", "worker main process"), ("beat", "beat"), ("web", "web"),
                 ("carrier-sim", "carrier simulator"), ("onestop-sim", "one-stop simulator"),
                 ("simulators", "simulators"))


def _read_procs() -> dict[int, tuple[int, float]]:
    """Every process now: pid -> (parent pid, CPU seconds used so far)."""
    found: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # (the name may hold spaces and brackets)
        found[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _HZ)
    return found


def _roots(world: Any) -> dict[int, str]:
    """The processes that start a role: pid -> role."""
    roots: dict[int, str] = {os.getpid(): "the benchmark's own process"}
    for name, proc in world.stack.procs.items():
        if proc.poll() is None:
            roots[proc.pid] = next((role for prefix, role in _ROLE_OF_NAME
                                    if name.startswith(prefix)), name)
    for name in world.worker_names:
        if name in world.stack.procs:
            for kid in world.worker_pids(name)[1]:
                roots[kid] = POOL
    if world.pg is not None:
        try:
            roots[int((world.pg.data / "postmaster.pid").read_text().split()[0])] = "PostgreSQL"
        except (OSError, ValueError, IndexError):
            pass
    if world.redis is not None and world.redis.proc is not None:
        roots[world.redis.proc.pid] = "redis-server"
    return roots


def _role(pid: int, procs: dict[int, tuple[int, float]], roots: dict[int, str]) -> str:
    seen = 0
    while pid in procs and seen < 64:
        if pid in roots:
            return roots[pid]
        pid, seen = procs[pid][0], seen + 1
    return OTHER


class CpuByRole:
    """Reads the machine's processes every `every` seconds on a thread of its own, from
    `__enter__` to `__exit__`; `cores(t0, t1)` gives each role's average over a stretch."""

    def __init__(self, world: Any, every: float = 0.5):
        self.world, self.every = world, every
        self.samples: list[tuple[float, dict[str, float]]] = []  # (monotonic, CPU s by role)
        self._last: dict[int, float] = {}
        self._total: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-by-role", daemon=True)

    def __enter__(self) -> CpuByRole:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _sample(self) -> None:
        try:
            roots = _roots(self.world)
        except Exception:  # the world stopping under us: keep what was read
            return
        procs = _read_procs()
        for pid, (_, used) in procs.items():
            # a new process (or a pid used again) counts from this reading
            before = self._last.get(pid, used)
            if used > before:
                role = _role(pid, procs, roots)
                self._total[role] = self._total.get(role, 0.0) + used - before
            self._last[pid] = used
        self._last = {pid: self._last[pid] for pid in procs}
        self.samples.append((time.monotonic(), dict(self._total)))

    def cores(self, t0: float, t1: float) -> dict[str, float]:
        """Each role's CPU over [t0, t1] (the readings nearest inside it) as cores used on
        average, busiest first; empty when fewer than two readings fall inside."""
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return {}
        (a, first), (b, last) = inside[0], inside[-1]
        used = {role: last.get(role, 0.0) - first.get(role, 0.0) for role in last}
        return {role: round(cpu / (b - a), 2) for role, cpu in
                sorted(used.items(), key=lambda kv: -kv[1]) if cpu > 0}


def cpu_text(cores: dict[str, float]) -> str:
    """'1.86 of 2 cores: pool processes 1.30, carrier simulator 0.28, ...' (roles under
    0.02 of a core left out)."""
    if not cores:
        return "not measured (too short)"
    shown = ", ".join(f"{role} {c:.2f}" for role, c in cores.items() if c >= 0.02)
    return f"{sum(cores.values()):.2f} of {os.cpu_count()} cores: {shown}"


def busy_cell(cores: dict[str, float]) -> str:
    """A table's cell: the cores in use in all (the pool processes' share)."""
    if not cores:
        return "not measured"
    return f"{sum(cores.values()):.2f} ({cores.get(POOL, 0.0):.2f})"
