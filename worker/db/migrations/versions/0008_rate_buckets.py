"""rate_buckets: the carrier quota's shared bucket per post-office account (embedded default)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_buckets',
    sa.Column('account', sa.String(length=80), nullable=False),
    sa.Column('last_slot', sa.Float(), nullable=False),
    sa.Column('blocked_until', sa.Float(), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('waits', sa.BigInteger(), nullable=False),
    sa.Column('waited_seconds', sa.Float(), nullable=False),
    sa.Column('throttled', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account')
    )


def downgrade() -> None:
    op.drop_table('rate_buckets')
