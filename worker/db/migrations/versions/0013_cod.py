"""cod_ledger: the fee reconciliation (COD) of each hand-off, from the carrier's codes 6
([COD] Đã thu tiền) and 8 ([COD] Trả tiền cho người gửi)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00

A new table keyed by the hand-off: no counted table of 0011 is altered (handoffs keeps its
triggers). The expected amount stays on handoffs.cod_amount; the amounts here are what the
carrier reported, NULL when its doc carried none.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cod_ledger',
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('collected_at', sa.DateTime(), nullable=True),
    sa.Column('collected_event', sa.String(length=64), nullable=True),
    sa.Column('collected_amount', sa.BigInteger(), nullable=True),
    sa.Column('remitted_at', sa.DateTime(), nullable=True),
    sa.Column('remitted_event', sa.String(length=64), nullable=True),
    sa.Column('remitted_amount', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id']),
    sa.PrimaryKeyConstraint('handoff_id'),
    )
    op.create_index('ix_cod_ledger_collected_at', 'cod_ledger', ['collected_at'])


def downgrade() -> None:
    op.drop_index('ix_cod_ledger_collected_at', table_name='cod_ledger')
    op.drop_table('cod_ledger')
