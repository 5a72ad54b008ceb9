"""Reading history for charts: 10-minute (configurable) aggregates per sensor,
the level timeline of every assessment, and the offsets the history writer
has applied (committed with the aggregates, so redeliveries are not counted twice).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copy of the column type: a migration must not change when store/tables.py does.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reading_aggregates",
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("bucket_start", UTC_TIME, nullable=False),
        sa.Column("sensor_id", sa.String(64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=False),
        sa.Column("max_value", sa.Float(), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=False),
        sa.Column("last_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("point_id", "kind", "bucket_start", "sensor_id"),
    )
    op.create_index("ix_reading_aggregates_bucket_start", "reading_aggregates", ["bucket_start"])

    op.create_table(
        "level_timeline",
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("observed_at", UTC_TIME, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("assessment_id"),
    )
    op.create_index("ix_level_timeline_point_id_observed_at", "level_timeline",
                    ["point_id", "observed_at"])
    op.create_index("ix_level_timeline_observed_at", "level_timeline", ["observed_at"])

    op.create_table(
        "history_offsets",
        sa.Column("consumer_group", sa.String(128), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("consumer_group", "topic", "partition"),
    )


def downgrade() -> None:
    op.drop_table("history_offsets")
    op.drop_table("level_timeline")
    op.drop_table("reading_aggregates")
