"""queue flow: prefetched claims, annotator settings, tags and comments on queue items (issue 12)

Revision ID: 0007_queue_flow
Revises: 0006_annotator_tools
"""
import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0007_queue_flow"
down_revision = "0006_annotator_tools"
branch_labels = None
depends_on = None

OPEN_CLAIM = "submitted_at IS NULL AND released_at IS NULL"


def upgrade() -> None:
    # Plain ADD COLUMN / CREATE INDEX / CREATE TABLE: no table is rebuilt, so the guard
    # triggers of events, versions and edits stay as they are.
    op.add_column("users", sa.Column("annotator_settings", sa.JSON(), nullable=True))
    op.add_column("queue_items", sa.Column("has_room", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.execute("UPDATE queue_items SET has_room = (active_claims < "
               "(SELECT overlap FROM queues WHERE queues.id = queue_items.queue_id))")
    op.create_index("ix_queue_items_open", "queue_items", ["queue_id", "position"],
                    postgresql_where=sa.text("has_room"), sqlite_where=sa.text("has_room = 1"))
    op.create_index("ix_queue_claims_open_user", "queue_claims", ["user_id"],
                    postgresql_where=sa.text(OPEN_CLAIM), sqlite_where=sa.text(OPEN_CLAIM))
    op.create_index("ix_queue_claims_open_claimed_at", "queue_claims", ["claimed_at"],
                    postgresql_where=sa.text(OPEN_CLAIM), sqlite_where=sa.text(OPEN_CLAIM))
    op.create_table(
        "queue_item_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["queue_items.id"], name=op.f("fk_queue_item_tags_item_id_queue_items"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_queue_item_tags_user_id_users"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_item_tags")),
        sa.UniqueConstraint("item_id", "tag", name=op.f("uq_queue_item_tags_item_id_tag")),
    )
    op.create_table(
        "queue_item_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("deleted_at", app.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["queue_items.id"],
                                name=op.f("fk_queue_item_comments_item_id_queue_items"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_queue_item_comments_user_id_users"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_item_comments")),
    )
    op.create_index("ix_queue_item_comments_item_id_id", "queue_item_comments", ["item_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_queue_item_comments_item_id_id", table_name="queue_item_comments")
    op.drop_table("queue_item_comments")
    op.drop_table("queue_item_tags")
    op.drop_index("ix_queue_claims_open_claimed_at", table_name="queue_claims")
    op.drop_index("ix_queue_claims_open_user", table_name="queue_claims")
    op.drop_index("ix_queue_items_open", table_name="queue_items")
    with op.batch_alter_table("queue_items") as batch:
        batch.drop_column("has_room")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("annotator_settings")
