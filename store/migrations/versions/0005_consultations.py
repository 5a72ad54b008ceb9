"""Consultations: threaded discussions on a warning or an area, with participants,
messages, attachments, decisions linked to warning transitions, and the outbox of
their live events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copy of the column type: a migration must not change when store/tables.py does.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consultations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("warning_id", sa.String(36), nullable=True),
        sa.Column("area", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("closed_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["warning_id"], ["warnings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consultations_warning_id", "consultations", ["warning_id"])
    op.create_index("ix_consultations_status_created_at", "consultations",
                    ["status", "created_at"])

    op.create_table(
        "consultation_jurisdictions",
        sa.Column("consultation_id", sa.String(36), nullable=False),
        sa.Column("adcode", sa.String(12), nullable=False),
        sa.ForeignKeyConstraint(["consultation_id"], ["consultations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("consultation_id", "adcode"),
    )
    op.create_index("ix_consultation_jurisdictions_adcode", "consultation_jurisdictions",
                    ["adcode"])

    op.create_table(
        "consultation_participants",
        sa.Column("consultation_id", sa.String(36), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(24), nullable=False),
        sa.Column("invited_by", sa.String(64), nullable=True),
        sa.Column("joined_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["consultation_id"], ["consultations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("consultation_id", "username"),
    )
    op.create_index("ix_consultation_participants_username", "consultation_participants",
                    ["username"])

    op.create_table(
        "consultation_messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("consultation_id", sa.String(36), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["consultation_id"], ["consultations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_id"], ["consultation_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consultation_messages_consultation_id_created_at",
                    "consultation_messages", ["consultation_id", "created_at"])

    op.create_table(
        "consultation_attachments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("consultation_id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["consultation_id"], ["consultations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["consultation_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consultation_attachments_consultation_id", "consultation_attachments",
                    ["consultation_id"])
    op.create_index("ix_consultation_attachments_message_id", "consultation_attachments",
                    ["message_id"])

    op.create_table(
        "consultation_decisions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("consultation_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(8), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("decided_at", UTC_TIME, nullable=False),
        sa.Column("transition_id", sa.String(36), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["consultation_id"], ["consultations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["transition_id"], ["warning_transitions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consultation_decisions_consultation_id", "consultation_decisions",
                    ["consultation_id"])
    op.create_index("uq_consultation_decisions_decided_by_key", "consultation_decisions",
                    ["decided_by", "idempotency_key"], unique=True)

    op.create_table(
        "consultation_events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("consultation_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("published_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["consultation_id"], ["consultations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consultation_events_consultation_id", "consultation_events",
                    ["consultation_id"])
    op.create_index("ix_consultation_events_published_at", "consultation_events",
                    ["published_at"])


def downgrade() -> None:
    op.drop_table("consultation_events")
    op.drop_table("consultation_decisions")
    op.drop_table("consultation_attachments")
    op.drop_table("consultation_messages")
    op.drop_table("consultation_participants")
    op.drop_table("consultation_jurisdictions")
    op.drop_table("consultations")
