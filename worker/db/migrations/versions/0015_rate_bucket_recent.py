"""rate_buckets.recent: an account's last granted slots, so the embedded limiter catches
up on slots left unused (worker/domain/quota.py)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:00:00

A nullable column added: no table is rebuilt on SQLite. A row without it (NULL) spaces its
requests evenly until it has recorded its quota's count of slots, as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('rate_buckets', sa.Column('recent', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rate_buckets') as batch:
        batch.drop_column('recent')
