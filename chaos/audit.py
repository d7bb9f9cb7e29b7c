"""Witnesses inside PostgreSQL: triggers that note, by the database server's own clock, every
lease taken, every ledger row claimed, every hand-off born and every SLA breach marked.

The worker stamps times with its own process clock (`utcnow()`), so a worker whose clock runs
ahead writes times that look right to itself. The triggers read `clock_timestamp()` on the
server (this machine's true clock), so the scenarios can judge after the run:
- a lease or a ledger row taken from a holder whose lease was still live (two holders);
- an SLA breach marked before the hand-off had really waited the rule's limit.
They only write to their own `chaos_*` tables: the worker's behaviour is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from worker.db.engine import Database

_REAL_NOW = "(clock_timestamp() AT TIME ZONE 'UTC')"  # naive UTC, as the worker stores times

INSTALL = [
    """CREATE TABLE IF NOT EXISTS chaos_lease_takes (
        id bigserial PRIMARY KEY, name text, old_holder text, new_holder text,
        old_expires timestamp, new_expires timestamp, real_at timestamp)""",
    """CREATE TABLE IF NOT EXISTS chaos_job_claims (
        id bigserial PRIMARY KEY, job_id int, kind text, attempt int,
        old_locked_until timestamp, new_locked_until timestamp, real_at timestamp)""",
    """CREATE TABLE IF NOT EXISTS chaos_handoff_born (
        handoff_id int PRIMARY KEY, ready_at timestamp, real_at timestamp)""",
    """CREATE TABLE IF NOT EXISTS chaos_breaches (
        id bigserial PRIMARY KEY, handoff_id int, rule text, status text,
        detected_at timestamp, real_at timestamp)""",
    f"""CREATE OR REPLACE FUNCTION chaos_lease_take() RETURNS trigger AS $$
    BEGIN
      IF NEW.holder <> '' AND NEW.holder IS DISTINCT FROM OLD.holder THEN
        INSERT INTO chaos_lease_takes (name, old_holder, new_holder, old_expires,
                                       new_expires, real_at)
        VALUES (NEW.name, OLD.holder, NEW.holder, OLD.expires_at, NEW.expires_at, {_REAL_NOW});
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION chaos_job_claim() RETURNS trigger AS $$
    BEGIN
      IF NEW.attempts = OLD.attempts + 1 THEN
        INSERT INTO chaos_job_claims (job_id, kind, attempt, old_locked_until,
                                      new_locked_until, real_at)
        VALUES (NEW.id, NEW.kind, NEW.attempts, OLD.locked_until, NEW.locked_until,
                {_REAL_NOW});
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION chaos_handoff_born() RETURNS trigger AS $$
    BEGIN
      INSERT INTO chaos_handoff_born (handoff_id, ready_at, real_at)
      VALUES (NEW.id, NEW.ready_at, {_REAL_NOW}) ON CONFLICT DO NOTHING;
      RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION chaos_breach() RETURNS trigger AS $$
    BEGIN
      INSERT INTO chaos_breaches (handoff_id, rule, status, detected_at, real_at)
      SELECT NEW.handoff_id, NEW.rule, h.status, NEW.detected_at, {_REAL_NOW}
      FROM handoffs h WHERE h.id = NEW.handoff_id;
      RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS chaos_lease_take ON leases",
    """CREATE TRIGGER chaos_lease_take BEFORE UPDATE ON leases
       FOR EACH ROW EXECUTE FUNCTION chaos_lease_take()""",
    "DROP TRIGGER IF EXISTS chaos_job_claim ON jobs",
    """CREATE TRIGGER chaos_job_claim BEFORE UPDATE ON jobs
       FOR EACH ROW EXECUTE FUNCTION chaos_job_claim()""",
    "DROP TRIGGER IF EXISTS chaos_handoff_born ON handoffs",
    """CREATE TRIGGER chaos_handoff_born AFTER INSERT ON handoffs
       FOR EACH ROW EXECUTE FUNCTION chaos_handoff_born()""",
    "DROP TRIGGER IF EXISTS chaos_breach ON sla_breaches",
    """CREATE TRIGGER chaos_breach AFTER INSERT ON sla_breaches
       FOR EACH ROW EXECUTE FUNCTION chaos_breach()""",
]


def install(db: Database) -> None:
    """Put the witnesses in (PostgreSQL only; after the schema is migrated)."""
    if not db.url.startswith("postgresql"):
        raise ValueError(f"database url: the audit triggers need PostgreSQL, not {db.url[:10]}")
    with db.engine.begin() as conn:
        for statement in INSTALL:
            conn.execute(text(statement))


@dataclass(frozen=True)
class Steal:
    """A lease or ledger row taken while its holder's lease was still live (true clock)."""

    what: str  # "lease sweep" or "job 12 (post_order)"
    old_holder: str
    new_holder: str
    live_for_s: float  # how long the old holder's lease still had to run

    def __str__(self) -> str:
        return (f"{self.what}: {self.new_holder or 'a claim'} took it from "
                f"{self.old_holder or 'a live claim'} {self.live_for_s:.1f}s before it expired")


def steals(db: Database) -> list[Steal]:
    """Every take of a lease, or claim of a ledger row, that had a live holder then."""
    found: list[Steal] = []
    with db.engine.connect() as conn:
        for name, old, new, expires, at in conn.execute(text(
                "SELECT name, old_holder, new_holder, old_expires, real_at "
                "FROM chaos_lease_takes WHERE old_holder <> '' AND old_expires > real_at "
                "ORDER BY id")):
            found.append(Steal(f"lease {name}", old, new, (expires - at).total_seconds()))
        for job_id, kind, attempt, until, at in conn.execute(text(
                "SELECT job_id, kind, attempt, old_locked_until, real_at FROM chaos_job_claims "
                "WHERE old_locked_until IS NOT NULL AND old_locked_until > real_at "
                "ORDER BY id")):
            found.append(Steal(f"job {job_id} ({kind}) attempt {attempt}", "", "",
                               (until - at).total_seconds()))
    return found


def lease_counts(db: Database) -> dict[str, int]:
    """How many times each lease changed hands, and how many ledger claims there were:
    shows the witnesses saw the run at all (a check that saw nothing proves nothing)."""
    with db.engine.connect() as conn:
        out = {f"lease {n}": int(c) for n, c in conn.execute(text(
            "SELECT name, count(*) FROM chaos_lease_takes GROUP BY name ORDER BY name"))}
        out["job claims"] = int(conn.execute(text(
            "SELECT count(*) FROM chaos_job_claims")).scalar() or 0)
    return out


@dataclass(frozen=True)
class Mark:
    """An SLA breach as recorded, with the hand-off's true age when it was marked."""

    handoff_id: int
    rule: str
    status: str
    detected_at: datetime  # the marking process's clock
    real_at: datetime  # the server's clock at the insert
    ready_at: datetime | None  # when the one-stop announced it (its time, not a worker's)
    born_real: datetime | None  # the server's clock when the hand-off row was written

    @property
    def true_age(self) -> timedelta | None:
        """Since the one-stop announced it (what every SLA limit counts from), by the
        server's clock at the mark."""
        return None if self.ready_at is None else self.real_at - self.ready_at


def marks(db: Database) -> list[Mark]:
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT b.handoff_id, b.rule, b.status, b.detected_at, b.real_at, h.ready_at, "
            "h.real_at "
            "FROM chaos_breaches b LEFT JOIN chaos_handoff_born h USING (handoff_id) "
            "ORDER BY b.id")).all()
    return [Mark(*row) for row in rows]


def rows_due_ahead(db: Database, beyond_s: float) -> int:
    """Pending ledger rows due more than `beyond_s` seconds after the server's clock now:
    stamped by a process whose clock runs ahead (backoff waits are far shorter)."""
    with db.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM jobs WHERE state = 'pending' AND next_attempt_at > "
            f"{_REAL_NOW} + interval '{float(beyond_s)} seconds'")).scalar() or 0)
