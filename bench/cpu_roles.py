"""Who was on the cores during a benchmark: the CPU each part of a deployment (chaos.World)
used over a stretch, read from /proc every half second (the processes are on this machine).

The issue asks, where a figure falls short, which resource ran out. The worker's pool
processes, its main process, beat, web, both simulators, PostgreSQL (the postmaster and
its backends), redis-server, the benchmark's own process and the rest of the machine are
each a role: a process is counted under the role of its nearest ancestor that is one (a
pool process under its worker's main process is "pool processes"). A process born between
two readings is counted whole; one that ended is counted to its end through its parent's
count of its reaped children (/proc's cutime and cstime), under its parent's role when it
was never read itself (a short PostgreSQL backend, a one-shot command).

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
from typing import Any, NamedTuple

POOL = "pool processes"
OTHER = "the rest of the machine"
_HZ = os.sysconf("SC_CLK_TCK")
_ROLE_OF_NAME = (("worker", "worker main process"), ("beat", "beat"), ("web", "web"),
                 ("carrier-sim", "carrier simulator"), ("onestop-sim", "one-stop simulator"),
                 ("simulators", "simulators"))


class Proc(NamedTuple):
    parent: int
    start: int  # clock ticks after boot: with the pid, which process this is
    used: float  # its own CPU seconds so far
    reaped: float  # CPU seconds of its children that ended and it waited for


def read_procs() -> dict[int, Proc]:
    """Every process now, by pid (bench/demo_memory.py walks its tree with it too)."""
    found: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        f = stat.rsplit(")", 1)[1].split()  # (the name may hold spaces and brackets)
        found[int(entry)] = Proc(int(f[1]), int(f[19]), (int(f[11]) + int(f[12])) / _HZ,
                                 (int(f[13]) + int(f[14])) / _HZ)
    return found


def _uptime_ticks() -> float:
    return float(Path("/proc/uptime").read_text().split()[0]) * _HZ


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


def _role(pid: int, procs: dict[int, Proc], roots: dict[int, str]) -> str:
    seen = 0
    while pid in procs and seen < 64:
        if pid in roots:
            return roots[pid]
        pid, seen = procs[pid].parent, seen + 1
    return OTHER


class CpuByRole:
    """Reads the machine's processes every `every` seconds on a thread of its own, from
    `__enter__` to `__exit__`; `cores(t0, t1)` gives each role's average over a stretch."""

    def __init__(self, world: Any, every: float = 0.5):
        self.world, self.every = world, every
        self.samples: list[tuple[float, dict[str, float]]] = []  # (monotonic, CPU s by role)
        self._last: dict[int, tuple[Proc, str]] = {}  # pid -> (as last read, its role)
        self._last_at = 0.0  # when that was, in clock ticks after boot
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
            try:
                self._sample()
            except Exception:  # (a reading missed: the next one covers its time)
                continue

    def _sample(self) -> None:
        try:
            roots = _roots(self.world)
            procs, now = read_procs(), _uptime_ticks()
        except Exception:  # the world stopping under us: keep what was read
            return
        first = not self._last
        add: dict[str, float] = {}
        seen: dict[int, tuple[Proc, str]] = {}
        # the last totals of the processes that ended since, by parent
        gone: dict[int, float] = {}
        for pid in self._last.keys() - procs.keys():
            p = self._last[pid][0]
            gone[p.parent] = gone.get(p.parent, 0.0) + p.used + p.reaped
        for pid, proc in procs.items():
            role = _role(pid, procs, roots)
            seen[pid] = (proc, role)
            before = self._last.get(pid)
            if before is not None and before[0].start == proc.start:
                used = proc.used - before[0].used
            elif not first and proc.start >= self._last_at:
                used = proc.used  # born since the last reading: all of it
            else:
                used = 0.0  # (the first reading: where the counts start)
            # what its children that ended since used after they were last read (or, born
            # and ended in between, at all): its reaped CPU's growth, less their last totals
            if before is not None and before[0].start == proc.start:
                ended = proc.reaped - before[0].reaped - gone.get(pid, 0.0)
                if ended > 0:
                    add[role] = add.get(role, 0.0) + ended
            if used > 0:
                add[role] = add.get(role, 0.0) + used
        for role, cpu in add.items():
            self._total[role] = self._total.get(role, 0.0) + cpu
        self._last, self._last_at = seen, now
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
    return f"{sum(cores.values()):.2f} of {len(os.sched_getaffinity(0))} cores: {shown}"


def busy_cell(cores: dict[str, float]) -> str:
    """A table's cell: the cores in use in all (the pool processes' share)."""
    if not cores:
        return "not measured"
    return f"{sum(cores.values()):.2f} ({cores.get(POOL, 0.0):.2f})"
