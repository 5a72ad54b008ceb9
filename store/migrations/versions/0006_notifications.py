"""Notifications to regional authorities: subscriptions (webhook or e-mail, per province,
county or the national centre) and the delivery log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copy of the column type: a migration must not change when store/tables.py does.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_subscriptions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("adcode", sa.String(12), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("province_adcode", sa.String(12), nullable=True),
        sa.Column("min_level", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(128), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("disabled_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_subscriptions_adcode", "notification_subscriptions",
                    ["adcode"])
    op.create_index("ix_notification_subscriptions_province_adcode",
                    "notification_subscriptions", ["province_adcode"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("warning_id", sa.String(36), nullable=False),
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("transition", sa.String(24), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("last_attempt_at", UTC_TIME, nullable=True),
        sa.Column("delivered_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["notification_subscriptions.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "event_id",
                            name="uq_notification_deliveries_subscription_event"),
    )
    op.create_index("ix_notification_deliveries_status_next_attempt_at",
                    "notification_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_notification_deliveries_subscription_created_at",
                    "notification_deliveries", ["subscription_id", "created_at"])


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("notification_subscriptions")
