"""12. Disk full on the embedded default (SQLite database and broker): the data folder
(HANDOFF_HOME: handoff.db, broker.db, tokens) lives on a small tmpfs the suite fills up
mid-run and frees again; the logs stay on another disk, as a container's output does.

While the disk is full:
- the worker stops taking work and SAYS WHY: a log line naming the full disk, and
  `handoff check` failing (exit code and its message are recorded);
- it neither crashes (its processes stay up) nor spins (its CPU is measured);
- nothing is half-written: no hand-off without its ledger row, no applied status without
  its status-log row (checked while full and again at the end).
When space returns it resumes by itself. Time to recover: from space back to progress.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import exists, func, select

from chaos import measure
from chaos.disk import Tmpfs, group_cpu_seconds
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.db.models import Handoff, Job, StatusLogEntry
from worker.domain.statuses import Status

NAME = "Disk full (embedded SQLite)"
DISK_MB = 64
# what counts as saying why: SQLite's words, the errno's, or plain Vietnamese
WHY = re.compile(r"disk is full|disk full|no space left|ENOSPC|SQLITE_FULL|ổ đĩa đầy|hết dung "
                 r"lượng|đầy bộ nhớ", re.IGNORECASE)
SPIN_SHARE = 0.5  # a worker burning more than half a core while it cannot work is spinning


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    why_not = Tmpfs.possible()
    if why_not:
        return Row.skipped(NAME, why_not, 12)
    n, full_s = int(size["handoffs"]), float(size["full_s"])
    disk = Tmpfs(home / "disk", DISK_MB)
    disk.mount()
    try:
        return _run(world_factory, n, full_s, disk)
    finally:
        disk.unmount()


def _run(world_factory: Callable[..., World], n: int, full_s: float, disk: Tmpfs) -> Row:
    env = {"HANDOFF_HOME": str(disk.where), "HANDOFF_CHECK_MAX_IDLE_SECONDS": "10"}
    with world_factory(backend="embedded", extra_env=env) as world:
        db = Database(f"sqlite:///{disk.where / 'handoff.db'}")
        world.db = lambda: db  # type: ignore[method-assign]  # the store is on the small disk
        world.start()
        worker = world.worker_names[0]
        codes = world.seed(n // 2)
        before = measure.progress_mark(db)
        # fill once a good part of the first half is under way (about 8 marks a hand-off)
        measure.time_until(lambda: measure.progress_mark(db) > before + 3 * n, 120)
        logs = {name: _size(world.stack.home / f"{name}.log") for name in world.stack.procs}
        cpu0, t0 = group_cpu_seconds(world.stack.procs[worker].pid), time.monotonic()
        disk.fill()
        codes += world.seed(n - len(codes))  # arrive while the disk is full
        mark_full = _mark(db)
        time.sleep(full_s)
        cpu = (group_cpu_seconds(world.stack.procs[worker].pid) - cpu0) / (time.monotonic() - t0)
        mark_end = _mark(db)
        moved = mark_end - mark_full if min(mark_full, mark_end) >= 0 else "unreadable"
        check = world.stack.run("check", timeout=60)
        said = _said_why(world.stack.home, logs)
        half_full = half_written(db)
        exited = world.exited()
        disk.free()
        recover, crashed = _progress_or_exit(world, db, 120)
        crashed = {**exited, **crashed}
        notes: list[str] = []
        if crashed:  # it cannot come back by itself: restarted, as a supervisor would
            notes.append(f"restarted by the suite after it died: {_last_words(world, crashed)}")
            for name in crashed:
                world.stack.procs.pop(name, None)
                if name.startswith("beat"):
                    world.stack.start_beat(name)
                else:
                    world.stack.start_worker(name)
            recover = None
        try:
            world.wait_all_final(codes, timeout=max(180, n * 0.8))
            world.wait_drained(90)
        except AssertionError as err:
            notes.append(str(err).split("; logs:")[0][:300])
        check_after = world.stack.run("check", timeout=60)
        half_end = half_written(db)
        row = world.verdict(NAME, codes, recover if recover is not None else float("inf"))
        check_text = (check.stderr + check.stdout).strip().replace("\n", " | ")[:160]
        notes += [
            f"disk full {full_s:.0f} s: worker CPU {cpu:.0%} of a core, progress marks "
            f"while full {moved}", f"`handoff check` while full: exit {check.returncode} "
            f"({check_text}); after: exit {check_after.returncode}",
            "said why: " + ("; ".join(f"{k}: …{v}…" for k, v in said.items()) or "nowhere"),
        ]
        failures = []
        if not said:
            failures.append("no log line says the disk is full")
        if check.returncode == 0:
            failures.append("`handoff check` passed while the disk was full")
        if cpu > SPIN_SHARE:
            failures.append(f"the worker spun ({cpu:.0%} of a core) while the disk was full")
        if crashed:
            failures.append(f"processes died on the full disk and did not come back by "
                            f"themselves (exit codes): {crashed}")
        for when, found in (("while full", half_full), ("at the end", half_end)):
            if found:
                failures.append(f"half-written {when}: {found}")
        if recover is None and not crashed:
            failures.append("no progress within 120 s of space returning")
        row.notes = "; ".join([*notes, row.notes] if row.notes else notes)
        return row.fail(failures)


def _last_words(world: World, names: dict[str, int | None]) -> str:
    """The last CRITICAL line (else ERROR line) each dead process logged."""
    out = []
    for name in names:
        path = world.stack.home / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        lines = ([ln for ln in text if "CRITICAL/" in ln and "Frequent restarts" not in ln]
                 or [ln for ln in text if "ERROR/" in ln])
        out.append(f"{name}: {lines[-1][:200] if lines else 'nothing logged'}")
    return "; ".join(out)


def half_written(db: Database) -> dict[str, int]:
    """What a torn write would leave: a hand-off without any ledger row (its post never
    queued), and a status applied to a hand-off without the status-log row saying so."""
    with db.long_read() as s:
        no_job = s.scalar(select(func.count()).select_from(Handoff).where(
            ~exists().where(Job.handoff_id == Handoff.id),
            Handoff.status != Status.NEEDS_ATTENTION.value)) or 0
        no_log = s.scalar(select(func.count()).select_from(Handoff).where(
            Handoff.status != Status.REQUESTED.value,
            ~exists().where(StatusLogEntry.handoff_id == Handoff.id,
                            StatusLogEntry.applied.is_(True),
                            StatusLogEntry.status == Handoff.status))) or 0
    found = {"hand-offs without a ledger row": int(no_job),
             "statuses applied without their log row": int(no_log)}
    return {k: v for k, v in found.items() if v}


def _said_why(home: Path, offsets: dict[str, int]) -> dict[str, str]:
    """Each process log's first line, written since the disk filled, that says why."""
    found = {}
    for name, offset in offsets.items():
        path = home / f"{name}.log"
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        match = WHY.search(text)
        if match:  # the words around the match, within its line
            start = max(text.rfind("\n", 0, match.start()) + 1, match.start() - 80)
            end = text.find("\n", match.end())
            found[name] = text[start:min(end if end >= 0 else len(text), match.end() + 20)]
    return found


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _mark(db: Database) -> int:
    """measure.progress_mark, read without taking the write lock; -1 when unreadable."""
    try:
        with db.long_read() as s:
            logged = s.scalar(select(func.count()).select_from(StatusLogEntry)) or 0
            done = s.scalar(select(func.count()).select_from(Job).where(
                Job.state == "done")) or 0
        return int(logged) + int(done)
    except Exception:  # the store cannot even be read
        return -1


def _progress_or_exit(world: World, db: Database, timeout: float
                      ) -> tuple[float | None, dict[str, int | None]]:
    """(seconds until the progress mark moves, or None) and the processes that exited
    meanwhile (then it stops waiting: a dead worker makes no progress)."""
    started, before = time.monotonic(), _mark(db)
    while time.monotonic() - started < timeout:
        if _mark(db) > before >= 0:
            return time.monotonic() - started, {}
        gone = world.exited()
        if gone:
            return None, gone
        if before < 0:
            before = _mark(db)
        time.sleep(0.25)
    return None, {}


SCENARIO = Scenario(number=12, name=NAME, full={"handoffs": 400, "full_s": 60},
                    short={"handoffs": 100, "full_s": 25}, run=run, needs=(),
                    mostly_waits=True)
