"""handover_records and handover_record_items: the hand-over record (biên bản bàn giao)
the desk and the postal worker sign for the envelopes handed over (result delivery) or the
dossiers brought to the desk (collection)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00

`printed` is what the record prints (agency as sender, one row per hand-off), stored when
it is made: a reprint renders it, never the hand-offs as they are later.
Only new tables: no counted table of 0011 is altered, so its triggers stay as they are.
`open_handoff_id` is the hand-off's id while its record is open and NULL once closed: its
unique index keeps a hand-off on at most one open record (NULLs never collide, on SQLite and
PostgreSQL alike), with no partial index.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('handover_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=80), nullable=False),
    sa.Column('agency_code', sa.String(length=40), nullable=False),
    sa.Column('direction', sa.String(length=20), nullable=False),
    sa.Column('content_key', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('closed_by', sa.String(length=80), nullable=False),
    sa.Column('closed_how', sa.String(length=16), nullable=True),
    sa.Column('replaced_by', sa.String(length=80), nullable=True),
    sa.Column('printed', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number', name='uq_handover_number'),
    )
    op.create_index('ix_handover_open', 'handover_records', ['closed_at', 'created_at'])
    op.create_index('ix_handover_content', 'handover_records',
                    ['agency_code', 'direction', 'content_key'])
    op.create_table('handover_record_items',
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('open_handoff_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['handover_records.id']),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id']),
    sa.PrimaryKeyConstraint('record_id', 'handoff_id'),
    )
    op.create_index('uq_handover_item_open', 'handover_record_items', ['open_handoff_id'],
                    unique=True)
    op.create_index('ix_handover_item_handoff', 'handover_record_items', ['handoff_id'])


def downgrade() -> None:
    op.drop_index('ix_handover_item_handoff', table_name='handover_record_items')
    op.drop_index('uq_handover_item_open', table_name='handover_record_items')
    op.drop_table('handover_record_items')
    op.drop_index('ix_handover_content', table_name='handover_records')
    op.drop_index('ix_handover_open', table_name='handover_records')
    op.drop_table('handover_records')
