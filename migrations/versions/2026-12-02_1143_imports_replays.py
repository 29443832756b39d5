"""imports, replays, variants (issue 11)

Revision ID: 0005_imports_replays
Revises: 0004_run_chunks
"""
import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0005_imports_replays"
down_revision = "0004_run_chunks"
branch_labels = None
depends_on = None


def _big_id():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("projects", sa.Column("variant_policy", sa.String(length=16), server_default="off", nullable=False))
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id", name="fk_imports_project_id_projects",
                                                            ondelete="RESTRICT"), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("bytes_total", _big_id(), nullable=False),
        sa.Column("bytes_read", _big_id(), nullable=False),
        sa.Column("lines_read", sa.Integer(), nullable=False),
        sa.Column("records_added", sa.Integer(), nullable=False),
        sa.Column("records_skipped", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", name="fk_imports_created_by_id_users",
                                                               ondelete="RESTRICT"), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", app.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_imports"),
    )
    op.create_index("ix_imports_project_id", "imports", ["project_id"])
    op.create_table(
        "import_records",
        sa.Column("id", _big_id(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey(
            "projects.id", name="fk_import_records_project_id_projects", ondelete="RESTRICT"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), sa.ForeignKey(
            "imports.id", name="fk_import_records_import_id_imports", ondelete="RESTRICT"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_records"),
        sa.UniqueConstraint("project_id", "kind", "external_id",
                            name="uq_import_records_project_id_kind_external_id"),
    )
    op.create_index("ix_import_records_import_id", "import_records", ["import_id"])
    op.create_table(
        "replays",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id", name="fk_replays_project_id_projects",
                                                            ondelete="RESTRICT"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("candidate", sa.JSON(), nullable=False),
        sa.Column("slice", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("versions_total", sa.Integer(), nullable=False),
        sa.Column("versions_done", sa.Integer(), nullable=False),
        sa.Column("versions_failed", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", name="fk_replays_created_by_id_users",
                                                               ondelete="RESTRICT"), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", app.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_replays"),
    )
    op.create_index("ix_replays_project_id", "replays", ["project_id"])
    op.create_table(
        "replay_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("replay_id", sa.Integer(), sa.ForeignKey("replays.id", name="fk_replay_items_replay_id_replays",
                                                           ondelete="RESTRICT"), nullable=False),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey(
            "versions.id", name="fk_replay_items_version_id_versions", ondelete="RESTRICT"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposals", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_replay_items"),
        sa.UniqueConstraint("replay_id", "version_id", name="uq_replay_items_replay_id_version_id"),
    )
    op.create_table(
        "variants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id", name="fk_variants_project_id_projects",
                                                            ondelete="RESTRICT"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_variants"),
        sa.UniqueConstraint("project_id", "name", name="uq_variants_project_id_name"),
    )
    op.create_index("ix_variants_project_id", "variants", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_variants_project_id", table_name="variants")
    op.drop_table("variants")
    op.drop_table("replay_items")
    op.drop_index("ix_replays_project_id", table_name="replays")
    op.drop_table("replays")
    op.drop_index("ix_import_records_import_id", table_name="import_records")
    op.drop_table("import_records")
    op.drop_index("ix_imports_project_id", table_name="imports")
    op.drop_table("imports")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("variant_policy")
