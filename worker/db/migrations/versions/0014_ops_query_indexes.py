"""indexes for the ops queries: search by phone, search by the beginning of a dossier
code, and lists by when a hand-off became ready

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 02:00:00

With 200,000 hand-offs (bench/ops_queries.py), /ops/search read the whole handoffs table for
every search: citizen_phone had no index, and the dossier code's prefix match (LIKE 'q%')
cannot use the unique index on dossier_code, whose collation-ordered keys do not serve
LIKE on PostgreSQL unless the database collation is "C". The overview's hand-offs per day
and delivery times, and the ops list (newest first), read it whole too: ready_at had none.

ix_handoffs_dossier_prefix is built with varchar_pattern_ops on PostgreSQL (LIKE 'q%' and
= both use it) and as a plain index on SQLite. Only indexes are added: handoffs is not
rebuilt on SQLite, so its metric triggers (0011) stay. Each builds in about a second at
200,000 rows, holding writes to handoffs meanwhile.
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_handoffs_citizen_phone', 'handoffs', ['citizen_phone'])
    op.create_index('ix_handoffs_dossier_prefix', 'handoffs', ['dossier_code'],
                    postgresql_ops={'dossier_code': 'varchar_pattern_ops'})
    op.create_index('ix_handoffs_ready_at', 'handoffs', ['ready_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_handoffs_ready_at', table_name='handoffs')
    op.drop_index('ix_handoffs_dossier_prefix', table_name='handoffs')
    op.drop_index('ix_handoffs_citizen_phone', table_name='handoffs')
