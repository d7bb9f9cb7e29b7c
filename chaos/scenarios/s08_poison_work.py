"""8. Poison work: one hand-off whose processing kills the process that takes it lands in
dead letters after a bounded number of deliveries; every other hand-off completes.

The cause comes from outside, as the kernel's OOM killer would: the carrier simulator holds
the poison dossier's post (`hang_dossiers`: the reply never comes, nothing is created) and
notes the client's port; the scenario finds the pool process owning that socket
(/proc/net/tcp and the processes' fds) and SIGKILLs it, every time one takes that row. The
worker runs with HANDOFF_MAX_ATTEMPTS = MAX_ATTEMPTS, so the bound on deliveries is that:
the poison row must be dead after at most MAX_ATTEMPTS claims (its `attempts`). The scenario
keeps killing until the row is dead, or is claimed a time more than the bound (proof that
nothing bounds it), or GIVE_UP_S passed (its ring waits behind the others' work).
Time to recover: the longest, over the kills, from a kill to the next progress (a kill after
which nothing else was left to do counts for nothing).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from chaos import measure
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.models import Handoff, Job
from worker.domain.enums import JobKind, JobState

NAME = "Poison work"
MAX_ATTEMPTS = 3
GIVE_UP_S = 600


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the loopback TCP socket local_port -> remote_port, if it is open."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if (int(local.rsplit(":", 1)[1], 16) == local_port
                    and int(remote.rsplit(":", 1)[1], 16) == remote_port):
                return inode
    return None


def _owner(pids: list[int], inode: str) -> int | None:
    """The process among `pids` holding socket `inode`."""
    wanted = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                    return pid
            except OSError:
                continue
    return None


def _poison_job(world: World, code: str) -> tuple[str, int] | None:
    """(state, attempts) of the poison hand-off's post row."""
    with world.db().unit_of_work() as s:
        row = s.execute(select(Job.state, Job.attempts).join(
            Handoff, Job.handoff_id == Handoff.id).where(
            Handoff.dossier_code == code, Job.kind == JobKind.POST_ORDER)).first()
        return (str(row[0]), int(row[1])) if row else None


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n = int(size["handoffs"])
    with world_factory(workers=1, extra_env={"HANDOFF_MAX_ATTEMPTS": str(MAX_ATTEMPTS)}
                       ) as world:
        world.start()
        sim = world.stack
        poison = world.seed(1)[0]
        sim.carrier_admin("faults", {"hang_dossiers": [poison], "hang_s": 120})
        codes = world.seed(n - 1)
        worker = world.worker_names[0]
        seen, kills, missed, recoveries = 0, 0, 0, []
        waiting: list[tuple[float, int]] = []  # (kill time, progress mark then)
        deadline = time.monotonic() + GIVE_UP_S
        state: tuple[str, int] | None = None
        while time.monotonic() < deadline:
            state = _poison_job(world, poison)
            if state is not None and (state[0] == JobState.DEAD or state[1] > MAX_ATTEMPTS):
                break
            hung = sim.carrier_admin("stats")["hung_posts"]
            for held in hung[seen:]:
                inode = _socket_inode(held["client_port"], sim.carrier_port)
                pid = _owner(world.worker_pids(worker)[1], inode) if inode else None
                if pid is None:
                    missed += 1
                    continue
                os.kill(pid, signal.SIGKILL)
                kills += 1
                waiting.append((time.monotonic(), measure.progress_mark(world.db())))
            seen = len(hung)
            if waiting:  # never blocks: the next holder must be caught within seconds
                mark = measure.progress_mark(world.db())
                recoveries += [time.monotonic() - t for t, m in waiting if mark > m]
                waiting = [(t, m) for t, m in waiting if mark <= m]
            time.sleep(0.1)
        state = _poison_job(world, poison)
        sim.carrier_admin("faults", {"hang_dossiers": []})  # the judging is done
        world.wait_all_final(codes, timeout=max(120, n * 0.8))
        world.wait_drained(60)
        row = world.verdict(NAME, codes, max(recoveries) if recoveries else None)
        row.handoffs = n
        what, attempts = state if state else ("no post row", 0)
        row.notes = (f"poison hand-off: its post held {seen} times, {kills} SIGKILLs of the "
                     f"pool process holding it ({missed} holders not found), its row "
                     f"{what} after {attempts} deliveries (bound {MAX_ATTEMPTS}); the "
                     f"{n - 1} others judged" + (f"; {row.notes}" if row.notes else ""))
        if what != JobState.DEAD or attempts > MAX_ATTEMPTS:
            row.failed = (f"poison row not dead-lettered within {MAX_ATTEMPTS} deliveries: "
                          f"{what} after {attempts} (each killed attempt is claimed again "
                          f"once its lease runs out, with no bound)")
            row.notes += f"; {row.failed}"
        if kills == 0:
            row.failed = "the poison post was never caught in a process"
            row.notes += f"; {row.failed}"
        return row


SCENARIO = Scenario(number=8, name=NAME, run=run, full={"handoffs": 500},
                    short={"handoffs": 60})
