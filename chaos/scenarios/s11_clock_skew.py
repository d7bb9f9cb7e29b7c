"""11. Clock skew: one worker's clock runs 5 minutes ahead (libfaketime preloaded into that
worker alone, FAKETIME="+300s"), beside a worker and a beat on the true clock, all on one
PostgreSQL. Leases and SLA marks must stay correct:
- no lease (feed polling, sweep, SLA pass) and no ledger row taken while its holder's lease
  was still live by the true clock (two holders at once);
- no SLA breach marked before the hand-off had really waited the rule's limit. The accept
  limit is set to 3 minutes, under the skew, so a marker that trusts its own clock shows.
Both are witnessed by triggers in PostgreSQL with the server's clock (chaos/audit.py).

Every process stamps on the database server's clock (worker/db/clock.py), so the skewed
worker must also leave no ledger row due in its future (rows it enqueued or put off would
wait for the true time to catch up, whoever runs them) and must not discard the periodic
rings as expired (their expiry is on the server's clock too).

Hand-offs are announced "now" (their SLA clock starts when they arrive). Then the skewed
worker stops (its clock "fixed") and more hand-offs arrive. Time to recover: from its stop
until the ledger is drained.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from chaos import audit, measure
from chaos.measure import Row, Scenario
from chaos.world import World
from worker.db.engine import Database
from worker.domain.sla_rules import Rule

NAME = "Clock skew (one worker +5 min)"
ACCEPT_WITHIN_MINUTES = 3.0  # under the skew: a skewed marker breaches at once
SLACK_S = 2.0
VN = timezone(timedelta(hours=7))  # the marking pass and the insert are not the same instant
_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
         "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
         "/usr/lib/faketime/libfaketimeMT.so.1")


def faketime_env(skew_s: float) -> dict[str, str] | None:
    """The environment that runs a process `skew_s` seconds ahead (libfaketime), or None
    when libfaketime is not installed. Monotonic clocks are left true (timeouts work)."""
    lib = next((p for p in _LIBS if Path(p).exists()), None)
    if lib is None:
        return None
    return {"LD_PRELOAD": lib, "FAKETIME": f"+{int(skew_s)}s",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1"}


def _shift_seen(env: dict[str, str]) -> float:
    """How far ahead a Python started with `env` sees the time (seconds)."""
    out = subprocess.run([sys.executable, "-c", "import time; print(time.time())"],
                         env=env, capture_output=True, text=True, timeout=30)
    return float(out.stdout.strip() or 0) - time.time()


def run(world_factory: Callable[..., World], size: dict, home: Path) -> Row:
    n, skew_s = int(size["handoffs"]), float(size["skew_s"])
    skew = faketime_env(skew_s)
    if skew is None:
        return Row.skipped(NAME, "libfaketime not installed (apt-get install faketime)", 11)
    env = {"HANDOFF_SLA_ACCEPT_WITHIN_MINUTES": str(ACCEPT_WITHIN_MINUTES),
           "HANDOFF_SLA_CHECK_EVERY": "1"}
    with world_factory(workers=1, beats=1, extra_env=env) as world:
        world.start()
        shift = _shift_seen({**world.stack.env(), **skew})
        if abs(shift - skew_s) > 30:
            return Row.skipped(NAME, f"libfaketime did not shift the clock ({shift:.0f} s)", 11)
        db = world.db()
        audit.install(db)
        skewed = _start_skewed(world, skew)
        codes: list[str] = []
        waves = 4
        for _ in range(waves):  # new, not yet accepted hand-offs all through the phase
            codes += seed_now(world, n // (2 * waves))
            time.sleep(3)
        notes: list[str] = []
        _wait_final(world, codes, max(120, n * 0.6), notes)
        log = world.stack.home / f"{skewed}.log"
        ran, discarded = _tasks_of(log)
        ahead = audit.rows_due_ahead(db, 30)
        world.stack.kill(skewed, signal.SIGTERM)  # its clock "fixed": it leaves
        stopped = time.monotonic()
        more = seed_now(world, n - len(codes))
        taken_in = measure.time_until(
            lambda: len(measure.final_statuses(db, more)) == len(more), skew_s + 120)
        _wait_final(world, codes + more, skew_s + 180, notes)
        drained = measure.time_until(lambda: measure.pending_jobs(db) == 0, skew_s + 180)
        drained_after = time.monotonic() - stopped if drained is not None else None
        row = world.verdict(NAME, codes + more, drained_after)
        stolen = audit.steals(db)
        early = early_marks(db, env)
        notes += [f"skew {shift:.0f} s; the skewed worker ran {ran} tasks and discarded "
                  f"{discarded} periodic rings as expired",
                  f"{ahead} ledger rows it left due in its future (>30 s ahead)",
                  f"{len(audit.marks(db))} SLA marks",
                  "after it stopped: new hand-offs taken in "
                  + (f"{taken_in:.0f} s" if taken_in is not None else "never")
                  + ", ledger drained "
                  + (f"{drained_after:.0f} s" if drained_after is not None else "never"),
                  f"witnessed: {audit.lease_counts(db)}"]
        failures = []
        if stolen:
            failures.append(f"{len(stolen)} takes while another holder's lease was live, "
                            f"e.g. {'; '.join(str(s) for s in stolen[:4])}")
        if early:
            failures.append(f"{len(early)} SLA breaches marked early, e.g. {'; '.join(early[:3])}")
        if ran == 0:
            failures.append("the skewed worker ran no task: nothing was tested")
        if ahead:  # stamped by its own clock: they wait for the true time to catch up
            failures.append(f"{ahead} ledger rows due in the skewed worker's future")
        if discarded > max(5, ran // 10):  # blind to the rings: polls and sweeps stop
            failures.append(f"the skewed worker discarded {discarded} periodic rings as "
                            f"expired (it ran {ran} tasks)")
        row.notes = "; ".join([*notes, row.notes] if row.notes else notes)
        return row.fail(failures)


def seed_now(world: World, k: int) -> list[str]:
    """k hand-offs the one-stop announces now (the factory's are up to 2 hours old, which
    would breach the short accept limit whoever marks): their SLA clock starts now."""
    if k <= 0:
        return []
    now = datetime.now(UTC).astimezone(VN).replace(microsecond=0).isoformat()
    items = world.items(k)
    for item in items:
        item["createdAt"] = now
    world.stack.onestop_admin("handoffs", {"items": items})
    return [i["dossierCode"] for i in items]


def _tasks_of(log: Path) -> tuple[int, int]:
    """(tasks a worker finished, rings it discarded as expired), from its log."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return (len(re.findall(r"Task \S+ succeeded", text)),
            text.count("Discarding revoked task"))


def _start_skewed(world: World, skew: dict[str, str]) -> str:
    """One more worker, started with the faked clock (only it: the environment is put back)."""
    saved = dict(world.stack.extra_env)
    world.stack.extra_env.update(skew)
    try:
        return world.start_worker("worker-skewed")
    finally:
        world.stack.extra_env.clear()
        world.stack.extra_env.update(saved)


def _wait_final(world: World, codes: list[str], timeout: float, notes: list[str]) -> None:
    """Wait; a timeout is not a crash: the verdict counts what is not final as lost."""
    try:
        world.wait_all_final(codes, timeout)
    except AssertionError as err:
        notes.append(str(err).split("; logs:")[0][:300])


def early_marks(db: Database, env: dict[str, str]) -> list[str]:
    """Breaches of a time limit counted from the hand-off's arrival, marked when the
    hand-off (by the server's clock) had not yet waited that limit."""
    from worker.settings import Settings

    s = Settings(sla_accept_within_minutes=float(env["HANDOFF_SLA_ACCEPT_WITHIN_MINUTES"]))
    limits = {Rule.NOT_ACCEPTED: s.sla_accept_within_minutes * 60,
              Rule.NOT_PICKED_UP: s.sla_pickup_within_hours * 3600,
              Rule.NOT_DELIVERED: s.sla_deliver_within_days * 86400,
              Rule.SILENT: s.sla_silent_hours * 3600}
    out = []
    for m in audit.marks(db):
        limit = limits.get(m.rule)  # type: ignore[call-overload]  # a StrEnum key
        age = m.true_age
        if limit is None or age is None:
            continue
        if age.total_seconds() < limit - SLACK_S:
            out.append(f"hand-off {m.handoff_id} {m.rule} after {age.total_seconds():.0f} s "
                       f"(limit {limit:.0f} s)")
    return out


SCENARIO = Scenario(number=11, name=NAME, full={"handoffs": 400, "skew_s": 300},
                    short={"handoffs": 120, "skew_s": 300}, run=run)
