"""metric counters: metric_counts (running totals) and metric_deltas (changes written by
triggers on handoffs, jobs, sla_breaches and attempts, in the writer's transaction)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:00:00

/metrics used to count the tables at every scrape (COUNT over attempts, grouped sums for
the latency histogram), so its cost grew with the ledger. Now each insert, delete or change
of a counted value adds a delta row (insert-only: no writer waits on a shared counter), and
worker/db/metric_counts.py folds the deltas into metric_counts at the next scrape or
sweep. The rows already stored are taken in here as grouped deltas, in the same transaction
that creates the triggers (which holds writers off those tables until it commits).

Later migrations: the totals are right only while every one of these triggers exists. On
SQLite, `op.batch_alter_table` on handoffs, sla_breaches or attempts, for anything but
add_column, recreates the table (copy, drop, rename), and that drops the table's triggers
with no error: from then on its totals stop moving. On jobs it fails instead (the attempts
triggers read jobs). Such a migration must create that table's triggers again after the
batch block (the statements `_sqlite()` makes here for that table). A migration that
renames or drops a counted column, or that should count another one, must rewrite the
triggers (and the functions on PostgreSQL) on both databases.
tests/integration/test_metric_triggers.py lists the exact set of triggers at head on
SQLite and PostgreSQL: update it only with the triggers you mean to have.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# (table, total's name, its labels, when the row counts, call duration, columns that matter)
# {r} is OLD or NEW. An attempt is labelled "kind|outcome" by its ledger row's kind.
COUNTED = (
    ("handoffs", "handoffs", "{r}.status", None, None, ("status",)),
    ("jobs", "jobs", "{r}.state", None, None, ("state",)),
    ("sla_breaches", "breaches_open", "{r}.rule", "{r}.cleared_at IS NULL", None,
     ("rule", "cleared_at")),
    ("attempts", "attempts",
     "coalesce((SELECT kind FROM jobs WHERE jobs.id = {r}.job_id), '') || '|' || {r}.outcome",
     None, "{r}.duration_ms", ("job_id", "outcome", "duration_ms")),
)

NULL_MS = "CAST(NULL AS INTEGER)"  # typed: PostgreSQL reads a bare NULL in a subquery as text


def _delta(name: str, labels: str, when: str | None, ms: str | None, r: str, n: int) -> str:
    """The INSERT of one delta for row `r` (OLD with -1, NEW with +1)."""
    cond = f" WHERE {when.format(r=r)}" if when else ""
    return (f"INSERT INTO metric_deltas (name, labels, n, ms) SELECT '{name}', "
            f"{labels.format(r=r)}, {n}, {ms.format(r=r) if ms else NULL_MS}{cond}")


def _postgresql() -> None:
    for table, name, labels, when, ms, columns in COUNTED:
        op.execute(f"""
            CREATE FUNCTION metric_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP <> 'INSERT' THEN {_delta(name, labels, when, ms, 'OLD', -1)}; END IF;
              IF TG_OP <> 'DELETE' THEN {_delta(name, labels, when, ms, 'NEW', 1)}; END IF;
              RETURN NULL;
            END $$""")
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
        op.execute(f"CREATE TRIGGER metric_{table}_rows AFTER INSERT OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION metric_{table}()")
        op.execute(f"CREATE TRIGGER metric_{table}_change AFTER UPDATE OF "
                   f"{', '.join(columns)} ON {table} FOR EACH ROW WHEN ({changed}) "
                   f"EXECUTE FUNCTION metric_{table}()")


def _sqlite() -> None:
    for table, name, labels, when, ms, columns in COUNTED:
        old, new = (_delta(name, labels, when, ms, r, n) for r, n in (("OLD", -1), ("NEW", 1)))
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
        op.execute(f"CREATE TRIGGER metric_{table}_insert AFTER INSERT ON {table} "
                   f"BEGIN {new}; END")
        op.execute(f"CREATE TRIGGER metric_{table}_delete AFTER DELETE ON {table} "
                   f"BEGIN {old}; END")
        op.execute(f"CREATE TRIGGER metric_{table}_change AFTER UPDATE OF "
                   f"{', '.join(columns)} ON {table} WHEN {changed} BEGIN {old}; {new}; END")


def upgrade() -> None:
    op.create_table('metric_counts',
    sa.Column('name', sa.String(length=24), nullable=False),
    sa.Column('labels', sa.String(length=200), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'labels')
    )
    op.create_table('metric_deltas',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=24), nullable=False),
    sa.Column('labels', sa.String(length=200), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('ms', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    # the oldest pending ledger row, found at the start of the index whatever the backlog
    op.create_index('ix_jobs_state_created', 'jobs', ['state', 'created_at'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()
    # What is stored already, as grouped deltas (the first fold turns them into totals).
    for table, name, labels, when, ms, _ in COUNTED:
        rows = (f"SELECT {labels.format(r=table)} AS labels, "
                f"{ms.format(r=table) if ms else NULL_MS} AS ms FROM {table}"
                f"{' WHERE ' + when.format(r=table) if when else ''}")
        op.execute(f"INSERT INTO metric_deltas (name, labels, n, ms) SELECT '{name}', "
                   f"labels, count(*), ms FROM ({rows}) AS stored GROUP BY labels, ms")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, *_ in COUNTED:
        for suffix in (("rows", "change") if postgresql else ("insert", "delete", "change")):
            op.execute(f"DROP TRIGGER metric_{table}_{suffix} ON {table}" if postgresql
                       else f"DROP TRIGGER metric_{table}_{suffix}")
        if postgresql:
            op.execute(f"DROP FUNCTION metric_{table}()")
    op.drop_table('metric_deltas')
    op.drop_table('metric_counts')
    op.drop_index('ix_jobs_state_created', table_name='jobs')
