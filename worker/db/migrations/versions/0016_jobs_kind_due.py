"""jobs: index ix_jobs_kind_due (state, kind, next_attempt_at), for the push-backs a message
of push-backs claims beside its own (worker/service/jobs/together.py)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:00:00

An index added: no table is rebuilt, but on PostgreSQL CREATE INDEX blocks writes to `jobs`
while it builds (the table keeps every row ever made: about a second for each few hundred
thousand rows, as 0014's indexes on handoffs; a quiet hour is the time to upgrade).
Without it the rows due of one kind were read through ix_jobs_due past every due row of the
others (a backlog of thousands of posts).
"""
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_jobs_kind_due', 'jobs', ['state', 'kind', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_jobs_kind_due', table_name='jobs')
