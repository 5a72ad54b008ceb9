"""Officers in the loop: users and API tokens, the warning lifecycle (state, version,
response times), audit columns on transitions, and the jurisdictions of each warning.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copy of the column type: a migration must not change when store/tables.py does.
UTC_TIME = sa.DateTime(timezone=True)

_WARNING_TIMES = ("detected_at", "issued_at", "acknowledged_at", "acted_at", "ack_due_at",
                  "ack_overdue_at", "national_at")
_AUDIT_COLUMNS = ("actor", "reason", "from_state", "to_state", "version", "idempotency_key",
                  "request_hash")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(24), nullable=False),
        sa.Column("provinces", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "warning_jurisdictions",
        sa.Column("warning_id", sa.String(36), nullable=False),
        sa.Column("adcode", sa.String(12), nullable=False),
        sa.ForeignKeyConstraint(["warning_id"], ["warnings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("warning_id", "adcode"),
    )
    op.create_index("ix_warning_jurisdictions_adcode", "warning_jurisdictions", ["adcode"])

    # Plain ADD COLUMNs: SQLite then keeps the partial unique index of warnings untouched.
    op.add_column("warnings", sa.Column("state", sa.String(16), server_default="issued",
                                        nullable=False))
    op.add_column("warnings", sa.Column("version", sa.Integer(), server_default="1",
                                        nullable=False))
    op.add_column("warnings", sa.Column("level_source", sa.String(8), server_default="model",
                                        nullable=False))
    op.add_column("warnings", sa.Column("peak_level", sa.String(8), nullable=True))
    for name in _WARNING_TIMES:
        op.add_column("warnings", sa.Column(name, UTC_TIME, nullable=True))
    op.create_index("ix_warnings_ack_due_at", "warnings", ["ack_due_at"])
    # Warnings from before: auto-issued when they opened, as the default rules say.
    op.execute("UPDATE warnings SET detected_at = opened_at, issued_at = opened_at, "
               "peak_level = level")
    op.execute("UPDATE warnings SET state = 'lifted' WHERE status = 'lifted'")

    # Batch mode: SQLite rebuilds the table (it has no partial index to lose), PostgreSQL alters.
    with op.batch_alter_table("warning_transitions") as batch:
        batch.alter_column("kind", type_=sa.String(24), existing_type=sa.String(12),
                           existing_nullable=False)
    op.add_column("warning_transitions", sa.Column(
        "actor", sa.String(64), server_default="system:scorer", nullable=False))
    op.add_column("warning_transitions", sa.Column("reason", sa.Text(), nullable=True))
    op.add_column("warning_transitions", sa.Column("from_state", sa.String(16), nullable=True))
    op.add_column("warning_transitions", sa.Column("to_state", sa.String(16), nullable=True))
    op.add_column("warning_transitions", sa.Column("version", sa.Integer(), nullable=True))
    op.add_column("warning_transitions", sa.Column("idempotency_key", sa.String(128),
                                                   nullable=True))
    op.add_column("warning_transitions", sa.Column("request_hash", sa.String(64), nullable=True))
    op.create_index("uq_warning_transitions_actor_key", "warning_transitions",
                    ["actor", "idempotency_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_warning_transitions_actor_key", table_name="warning_transitions")
    for name in _AUDIT_COLUMNS:
        op.drop_column("warning_transitions", name)
    op.drop_index("ix_warnings_ack_due_at", table_name="warnings")
    for name in ("state", "version", "level_source", "peak_level", *_WARNING_TIMES):
        op.drop_column("warnings", name)
    op.drop_table("warning_jurisdictions")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
