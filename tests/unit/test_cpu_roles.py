"""bench/cpu_roles.py: a busy pool process is counted under "pool processes", an idle main
process near nothing, and the rest of the machine apart (the benchmarks' "which resource
ran out" rests on it)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from bench.cpu_roles import POOL, CpuByRole, busy_cell, cpu_text

# a "worker" whose one child spins on a core for 1.2 s while it sleeps
PARENT = (
    "import subprocess, sys\n"
    "kid = subprocess.Popen([sys.executable, '-c', "
    "'import time\\nt = time.process_time()\\nwhile time.process_time() - t < 1.2: pass'])\n"
    "kid.wait()\n"
)


def test_a_busy_pool_process_is_counted_under_its_role() -> None:
    main = subprocess.Popen([sys.executable, "-c", PARENT])
    world = SimpleNamespace(
        stack=SimpleNamespace(procs={"worker-1": main}), worker_names=["worker-1"], pg=None,
        redis=None, worker_pids=lambda name: (main.pid, [int(k) for k in Path(
            f"/proc/{main.pid}/task/{main.pid}/children").read_text().split()]))
    try:
        with CpuByRole(world, every=0.1) as cpu:
            started = time.monotonic()
            main.wait(30)
            ended = time.monotonic()
    finally:
        main.kill()
    cores = cpu.cores(started, ended)
    # its 1.2 s of CPU, whatever else the machine runs meanwhile (the readings inside the
    # stretch may miss a tenth of a second at each end)
    assert 0.9 <= cores.get(POOL, 0.0) * (ended - started) <= 1.5, (cores, ended - started)
    assert cores.get("worker main process", 0.0) < 0.2, cores
    assert cpu_text(cores).startswith(f"{sum(cores.values()):.2f} of ")
    assert busy_cell(cores).endswith(f"({cores[POOL]:.2f})")
    assert cpu.cores(ended + 1, ended + 2) == {}  # no readings there: nothing claimed
