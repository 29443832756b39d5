"""server-side sessions, run heartbeats, project spelling locale

Revision ID: 0002_sessions_heartbeat
Revises: da2bc9154f3e
"""
import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0002_sessions_heartbeat"
down_revision = "da2bc9154f3e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_seen_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)
    # Plain ADD COLUMN on both backends (no batch table copy: it would drop SQLite's guard triggers).
    op.add_column("runs", sa.Column("heartbeat_at", app.models.base.UTCDateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("claimed_by", sa.String(length=64), nullable=True))
    op.add_column("projects", sa.Column("locale", sa.String(length=8), server_default="auto", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("locale")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("heartbeat_at")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
