"""Rasters: nowcast runs with per-county summaries, InSAR candidate risk areas with
their decisions, and InSAR velocity sampled at risk points.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copy of the column type: a migration must not change when store/tables.py does.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "nowcast_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("valid_at", UTC_TIME, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_nowcast_runs_kind_valid_at", "nowcast_runs", ["kind", "valid_at"])

    op.create_table(
        "nowcast_counties",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("adcode", sa.String(12), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("province", sa.String(64), nullable=True),
        sa.Column("province_adcode", sa.String(12), nullable=False),
        sa.Column("max_level", sa.Integer(), nullable=False),
        sa.Column("share_none", sa.Float(), nullable=False),
        sa.Column("share_blue", sa.Float(), nullable=False),
        sa.Column("share_yellow", sa.Float(), nullable=False),
        sa.Column("share_orange", sa.Float(), nullable=False),
        sa.Column("share_red", sa.Float(), nullable=False),
        sa.Column("data_coverage", sa.Float(), nullable=False),
        sa.Column("data_area_m2", sa.Float(), nullable=False),
        sa.Column("county_area_m2", sa.Float(), nullable=False),
        sa.Column("points_at_or_above", sa.Integer(), nullable=False),
        sa.Column("threatened_population", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["nowcast_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "adcode"),
    )

    op.create_table(
        "candidate_areas",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("valid_at", UTC_TIME, nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("pixel_count", sa.Integer(), nullable=False),
        sa.Column("mean_velocity_mm_yr", sa.Float(), nullable=False),
        sa.Column("peak_velocity_mm_yr", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("decided_at", UTC_TIME, nullable=True),
        sa.Column("decision_reason", sa.String(1000), nullable=True),
        sa.Column("point_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_candidate_areas_status_created_at", "candidate_areas",
                    ["status", "created_at"])

    op.create_table(
        "insar_samples",
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(36), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("valid_at", UTC_TIME, nullable=False),
        sa.Column("velocity_mm_yr", sa.Float(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("point_id", "product_id"),
    )
    op.create_index("ix_insar_samples_point_id_valid_at", "insar_samples",
                    ["point_id", "valid_at"])


def downgrade() -> None:
    op.drop_table("insar_samples")
    op.drop_table("candidate_areas")
    op.drop_table("nowcast_counties")
    op.drop_table("nowcast_runs")
