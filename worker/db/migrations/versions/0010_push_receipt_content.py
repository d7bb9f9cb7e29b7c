"""carrier_push_receipts.content_key: a push identical in content (order, status code, time)
to one an agency already received is taken once, whatever its transaction id

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 09:00:00

Receipts stored before this migration have no content key (NULL: never equal to another),
so only pushes received from now on are matched by content.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('carrier_push_receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_key', sa.String(length=64), nullable=True))
    # a unique index, not a constraint: SQLite adds it without rebuilding the table
    op.create_index('uq_push_receipt_content', 'carrier_push_receipts',
                    ['agency_code', 'content_key'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_push_receipt_content', table_name='carrier_push_receipts')
    with op.batch_alter_table('carrier_push_receipts', schema=None) as batch_op:
        batch_op.drop_column('content_key')
