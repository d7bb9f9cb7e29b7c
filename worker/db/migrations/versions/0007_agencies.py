"""agencies in the database (sender block, dispatch, route, encrypted account, SLA
overrides), the receipts of carrier status pushes, marks of things done once

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 04:20:00

The rows are filled by `handoff migrate` on a fresh database (HANDOFF_AGENCIES, then the
agencies an older database already served: worker/service/admin/agency_admin.py `seed_if_fresh`),
not here: a migration does not read the environment. `agency_settings` (the dispatch mode
changed on the settings page) is read once by that seed and no longer written.
"""
from alembic import op
import sqlalchemy as sa
import worker.db.models


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agencies',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sender_tel', sa.String(length=20), nullable=False),
    sa.Column('sender_email', sa.String(length=200), nullable=False),
    sa.Column('sender_address', sa.String(length=400), nullable=False),
    sa.Column('province_code', sa.String(length=8), nullable=False),
    sa.Column('ward_code', sa.String(length=8), nullable=False),
    sa.Column('dispatch', sa.String(length=8), nullable=False),
    sa.Column('route', sa.String(length=8), nullable=False),
    sa.Column('customer_code', sa.String(length=40), nullable=True),
    sa.Column('credentials', sa.Text(), nullable=True),
    sa.Column('quota_per_second', sa.Float(), nullable=True),
    sa.Column('sla', sa.JSON(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', worker.db.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', worker.db.models.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('deployment_marks',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('at', worker.db.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('carrier_push_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_code', sa.String(length=40), nullable=False),
    sa.Column('transaction_id', sa.String(length=100), nullable=False),
    sa.Column('order_number', sa.String(length=50), nullable=False),
    sa.Column('received_at', worker.db.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agency_code', 'transaction_id', name='uq_push_receipt')
    )
    with op.batch_alter_table('carrier_push_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carrier_push_receipts_received_at'),
                              ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('carrier_push_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carrier_push_receipts_received_at'))
    op.drop_table('carrier_push_receipts')
    op.drop_table('deployment_marks')
    op.drop_table('agencies')
