"""writer edits, superseded edits, finished documents (issue 9 pages)

Revision ID: 0003_writer_edits
Revises: 0002_sessions_heartbeat
"""
import sqlalchemy as sa
from alembic import op

import app.models.base
from app.models.guards import create_guards, drop_guards

revision = "0003_writer_edits"
down_revision = "0002_sessions_heartbeat"
branch_labels = None
depends_on = None

NEW_STATUSES = "status IN ('pending', 'accepted', 'rejected', 'modified', 'superseded')"
OLD_STATUSES = "status IN ('pending', 'accepted', 'rejected', 'modified')"


def upgrade() -> None:
    op.add_column("documents", sa.Column("finished_at", app.models.base.UTCDateTime(timezone=True), nullable=True))
    op.add_column("critiques", sa.Column("writer_status", sa.String(length=16), nullable=True))
    # The status CHECK and run_id's NOT NULL change: SQLite rebuilds edits, which drops its guard
    # triggers, so the guards are dropped first and created again after (on PostgreSQL too, alike).
    bind = op.get_bind()
    drop_guards(bind)
    with op.batch_alter_table("edits") as batch:
        batch.drop_constraint(op.f("ck_edits_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_edits_status_known"), NEW_STATUSES)
        batch.alter_column("run_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("source", sa.String(length=8), server_default="ai", nullable=False))
        batch.add_column(sa.Column("revised_version_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("carried_from_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("superseded_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), server_default="", nullable=False))
        batch.create_foreign_key(op.f("fk_edits_revised_version_id_versions"), "versions",
                                 ["revised_version_id"], ["id"], ondelete="RESTRICT")
        batch.create_foreign_key(op.f("fk_edits_carried_from_id_edits"), "edits",
                                 ["carried_from_id"], ["id"], ondelete="RESTRICT")
        batch.create_foreign_key(op.f("fk_edits_superseded_by_id_edits"), "edits",
                                 ["superseded_by_id"], ["id"], ondelete="RESTRICT")
    create_guards(bind)


def downgrade() -> None:
    bind = op.get_bind()
    left = bind.execute(sa.text("SELECT count(*) FROM edits WHERE run_id IS NULL OR status = 'superseded'")).scalar()
    if left:
        raise RuntimeError(f"{left} writer or superseded edits exist; the older schema cannot hold them.")
    drop_guards(bind)
    with op.batch_alter_table("edits") as batch:
        batch.drop_constraint(op.f("fk_edits_superseded_by_id_edits"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_edits_carried_from_id_edits"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_edits_revised_version_id_versions"), type_="foreignkey")
        batch.drop_column("note")
        batch.drop_column("superseded_by_id")
        batch.drop_column("carried_from_id")
        batch.drop_column("revised_version_id")
        batch.drop_column("source")
        batch.alter_column("run_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_constraint(op.f("ck_edits_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_edits_status_known"), OLD_STATUSES)
    create_guards(bind)
    with op.batch_alter_table("critiques") as batch:
        batch.drop_column("writer_status")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("finished_at")
