"""the post office's area table in the database (carrier_areas) and where it came from
(carrier_area_table), loaded with the shipped placeholder codes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 06:00:00

A fresh database maps every current ward as before this migration (the placeholders of
worker/db/seed/area_codes.csv), flagged as placeholders until `handoff areas import`
swaps in the post office's table.
"""
import csv
from datetime import UTC, datetime
from pathlib import Path

from alembic import op
import sqlalchemy as sa
import worker.db.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

SEED = Path(__file__).resolve().parents[2] / "seed" / "area_codes.csv"


def upgrade() -> None:
    areas = op.create_table('carrier_areas',
    sa.Column('gso_province', sa.Integer(), nullable=False),
    sa.Column('gso_ward', sa.Integer(), nullable=False),
    sa.Column('carrier_province', sa.Integer(), nullable=False),
    sa.Column('carrier_district', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('gso_province', 'gso_ward')
    )
    meta = op.create_table('carrier_area_table',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('placeholder', sa.Boolean(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('imported_at', worker.db.models.UTCDateTime(), nullable=False),
    sa.Column('imported_by', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with SEED.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        columns = next(reader)
        rows = [dict(zip(columns, map(int, r), strict=True)) for r in reader if r]
    op.bulk_insert(areas, rows)
    op.bulk_insert(meta, [{"id": 1, "source": "placeholder", "placeholder": True,
                           "row_count": len(rows), "imported_at": datetime.now(UTC),
                           "imported_by": "migration 0009"}])


def downgrade() -> None:
    op.drop_table('carrier_area_table')
    op.drop_table('carrier_areas')
