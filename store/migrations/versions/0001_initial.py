"""Initial schema: risk points and sensors, warnings and their transitions (the
outbox of geowarn.warning-events), worker progress.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types: a migration must not change when store/tables.py does.
UTC_TIME = sa.DateTime(timezone=True)
ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "risk_points",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("hazard_type", sa.String(32), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("province", sa.String(64), nullable=True),
        sa.Column("province_adcode", sa.String(12), nullable=True),
        sa.Column("county", sa.String(64), nullable=True),
        sa.Column("county_adcode", sa.String(12), nullable=True),
        sa.Column("threatened_people", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_risk_points_hazard_type", "risk_points", ["hazard_type"])
    op.create_index("ix_risk_points_lon_lat", "risk_points", ["lon", "lat"])
    op.create_index("ix_risk_points_province", "risk_points", ["province"])
    op.create_index("ix_risk_points_province_adcode", "risk_points", ["province_adcode"])

    op.create_table(
        "sensors",
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("sensor_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["point_id"], ["risk_points.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("point_id", "sensor_id"),
    )

    op.create_table(
        "warnings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("hazard_type", sa.String(32), nullable=False),
        sa.Column("province", sa.String(64), nullable=True),
        sa.Column("county", sa.String(64), nullable=True),
        sa.Column("opened_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("lifted_at", UTC_TIME, nullable=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("last_assessment_id", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(["point_id"], ["risk_points.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_warnings_level", "warnings", ["level"])
    op.create_index("ix_warnings_opened_at", "warnings", ["opened_at"])
    op.create_index("ix_warnings_point_id", "warnings", ["point_id"])
    op.create_index("ix_warnings_province", "warnings", ["province"])
    op.create_index("ix_warnings_status", "warnings", ["status"])
    # At most one active warning per point, enforced by the database.
    op.create_index("uq_warnings_one_active_per_point", "warnings", ["point_id"], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)

    op.create_table(
        "warning_transitions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("warning_id", sa.String(36), nullable=False),
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("from_level", sa.String(8), nullable=False),
        sa.Column("to_level", sa.String(8), nullable=False),
        sa.Column("observed_at", UTC_TIME, nullable=False),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("published_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["warning_id"], ["warnings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_warning_transitions_assessment_id", "warning_transitions", ["assessment_id"])
    op.create_index("ix_warning_transitions_point_id", "warning_transitions", ["point_id"])
    op.create_index("ix_warning_transitions_published_at", "warning_transitions", ["published_at"])
    op.create_index("ix_warning_transitions_warning_id", "warning_transitions", ["warning_id"])

    op.create_table(
        "worker_progress",
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("committed_offset", sa.BigInteger(), nullable=False),
        sa.Column("highwater", sa.BigInteger(), nullable=True),
        sa.Column("last_event_at", UTC_TIME, nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("worker", "topic", "partition"),
    )


def downgrade() -> None:
    op.drop_table("worker_progress")
    op.drop_table("warning_transitions")
    op.drop_table("warnings")
    op.drop_table("sensors")
    op.drop_table("risk_points")
