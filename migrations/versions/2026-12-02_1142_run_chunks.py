"""runs in chunks (issue 9 pipeline)

Revision ID: 0004_run_chunks
Revises: 0003_writer_edits
"""
import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0004_run_chunks"
down_revision = "0003_writer_edits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of runs) and a new table: no guard trigger is touched.
    op.add_column("runs", sa.Column("chunk_count", sa.Integer(), server_default="1", nullable=False))
    op.add_column("runs", sa.Column("error_detail", sa.Text(), nullable=True))
    op.create_table(
        "run_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("raw_output", sa.Text(), nullable=True),
        sa.Column("parsed_output", sa.JSON(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("started_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_chunks_run_id_runs"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], name=op.f("fk_run_chunks_stage_id_stages"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_chunks")),
        sa.UniqueConstraint("run_id", "position", "chunk", name=op.f("uq_run_chunks_run_id_position_chunk")),
    )
    op.create_index(op.f("ix_run_chunks_stage_id"), "run_chunks", ["stage_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_run_chunks_stage_id"), table_name="run_chunks")
    op.drop_table("run_chunks")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("error_detail")
        batch.drop_column("chunk_count")
