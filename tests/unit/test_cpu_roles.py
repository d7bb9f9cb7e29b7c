"""bench/cpu_roles.py: a busy pool process is counted under "pool processes", one that was
born and ended between two readings under its parent's role, and the average over a
stretch is its CPU over the readings' span (the benchmarks' "which resource ran out" rests
on it)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.cpu_roles import POOL, CpuByRole, busy_cell, cpu_text

pytestmark = pytest.mark.flows  # subprocesses, one spinning on a core (not make test-fast's)

BURN_S = 0.6
# a "worker" whose one child spins on a core for BURN_S of CPU; it says so once its child
# has ended (and been waited for), then waits to be told to go
PARENT = (
    "import subprocess, sys\n"
    "subprocess.run([sys.executable, '-c', 'import time\\nt = time.process_time()\\n"
    f"while time.process_time() - t < {BURN_S}: pass'])\n"
    "print('done', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.mark.parametrize("every", [0.1, 30.0], ids=["read-while-it-runs", "never-read"])
def test_a_busy_child_is_counted_under_its_role(every: float) -> None:
    main = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    world = SimpleNamespace(
        stack=SimpleNamespace(procs={"worker-1": main}), worker_names=["worker-1"], pg=None,
        redis=None, worker_pids=lambda name: (main.pid, [int(k) for k in Path(
            f"/proc/{main.pid}/task/{main.pid}/children").read_text().split()]))
    try:
        with CpuByRole(world, every=every) as cpu:
            started = time.monotonic()
            assert main.stdout is not None and main.stdout.readline() == "done\n"
            ended = time.monotonic()
    finally:
        main.kill()
        main.wait()
    used = cpu.samples[-1][1]  # CPU seconds by role from the first reading to the last
    if every < 1:  # read while it ran: a pool process (its last moments through its parent)
        assert BURN_S * 0.7 <= used.get(POOL, 0.0) <= BURN_S * 1.3, used
        assert used.get(POOL, 0.0) + used.get("worker main process", 0.0) <= BURN_S * 1.5
        # the average over the stretch is that CPU over the span of the readings inside it
        inside = [s for s in cpu.samples if started <= s[0] <= ended]
        (a, first), (b, last) = inside[0], inside[-1]
        cores = cpu.cores(started, ended)
        assert cores[POOL] == pytest.approx((last[POOL] - first.get(POOL, 0.0)) / (b - a),
                                            abs=0.01)
        assert cpu_text(cores).startswith(f"{sum(cores.values()):.2f} of ")
        assert busy_cell(cores).endswith(f"({cores[POOL]:.2f})")
    else:  # never read: born and ended between two readings, found in its parent's count
        assert POOL not in used, used
        assert BURN_S * 0.7 <= used.get("worker main process", 0.0) <= BURN_S * 1.5, used
        assert cpu.cores(started, ended) == {}  # no two readings inside: nothing claimed
