"""Current sensor health per risk point (status, offline and stuck sensors), kept by the
history worker from the newest assessment of each point.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Frozen copy of the column type: a migration must not change when store/tables.py does.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "point_status",
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("offline_sensors", sa.JSON(), nullable=False),
        sa.Column("stuck_sensors", sa.JSON(), nullable=False),
        sa.Column("observed_at", UTC_TIME, nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("point_id"),
    )


def downgrade() -> None:
    op.drop_table("point_status")
