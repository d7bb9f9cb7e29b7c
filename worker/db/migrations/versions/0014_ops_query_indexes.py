"""indexes for the ops queries: search by phone, search by the beginning of a dossier
code, lists by when a hand-off became ready, each agency's name, the open SLA breaches

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 02:00:00

With 200,000 hand-offs (bench/ops_queries.py), /ops/search read the whole handoffs table for
every search: citizen_phone had no index, and the dossier code's prefix match (LIKE 'q%')
cannot use the unique index on dossier_code, whose collation-ordered keys do not serve
LIKE on PostgreSQL unless the database collation is "C". The overview's hand-offs per day
and delivery times, and the ops list (newest first), read it whole too: ready_at had none.
The overview's counts per agency compared the names of all 200,000 to show the greatest of
each agency; with ix_handoffs_agency_name that is one index lookup per agency. The late
list read every breach ever recorded to find the open ones (cleared ones are kept, ~7 in 8
at a year's 19,000): ix_sla_breaches_open holds the open ones only (partial index, on
SQLite and PostgreSQL alike).

ix_handoffs_dossier_prefix is built with varchar_pattern_ops on PostgreSQL (LIKE 'q%' and
= both use it) and as a plain index on SQLite. Only indexes are added: no table is
rebuilt on SQLite, so the metric triggers of 0011 stay. Each builds in about a second at
200,000 rows, holding writes to handoffs meanwhile.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_handoffs_citizen_phone', 'handoffs', ['citizen_phone'])
    op.create_index('ix_handoffs_dossier_prefix', 'handoffs', ['dossier_code'],
                    postgresql_ops={'dossier_code': 'varchar_pattern_ops'})
    op.create_index('ix_handoffs_ready_at', 'handoffs', ['ready_at', 'id'])
    op.create_index('ix_handoffs_agency_name', 'handoffs', ['agency_code', 'agency_name'])
    open_only = sa.text('cleared_at IS NULL')
    op.create_index('ix_sla_breaches_open', 'sla_breaches', ['handoff_id'],
                    postgresql_where=open_only, sqlite_where=open_only)


def downgrade() -> None:
    op.drop_index('ix_sla_breaches_open', table_name='sla_breaches')
    op.drop_index('ix_handoffs_agency_name', table_name='handoffs')
    op.drop_index('ix_handoffs_ready_at', table_name='handoffs')
    op.drop_index('ix_handoffs_dossier_prefix', table_name='handoffs')
    op.drop_index('ix_handoffs_citizen_phone', table_name='handoffs')
