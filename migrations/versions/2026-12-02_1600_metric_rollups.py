"""metric rollups: counts of edits and decisions, queue item times, kept by triggers (issue 12)

Revision ID: 0008_metric_rollups
Revises: 0007_queue_flow
"""
import sqlalchemy as sa
from alembic import op

import app.models.base
from app.metrics import rollups

revision = "0008_metric_rollups"
down_revision = "0007_queue_flow"
branch_labels = None
depends_on = None

HUMAN_DECIDED = "decision_source = 'human' AND decided_at IS NOT NULL"


def _edit_key_columns(primary_key: bool) -> list:
    return [
        sa.Column("project_id", sa.Integer(), nullable=False, primary_key=primary_key),
        sa.Column("model", sa.String(length=200), nullable=False, primary_key=primary_key),
        sa.Column("depth", sa.Integer(), nullable=False, primary_key=primary_key),
        sa.Column("intent", sa.String(length=32), nullable=False, primary_key=primary_key),
        sa.Column("person_id", sa.Integer(), nullable=False, primary_key=primary_key),
        sa.Column("feedback", sa.Integer(), nullable=False, primary_key=primary_key),
        sa.Column("run_status", sa.String(length=16), nullable=False, primary_key=primary_key),
        sa.Column("status", sa.String(length=16), nullable=False, primary_key=primary_key),
        sa.Column("guess", sa.Integer(), nullable=False, primary_key=primary_key),
        sa.Column("n", sa.BigInteger(), nullable=False),
    ]


def _day_key_columns(primary_key: bool) -> list:
    return [
        sa.Column("project_id", sa.Integer(), nullable=False, primary_key=primary_key),
        sa.Column("day", sa.Date(), nullable=False, primary_key=primary_key),
        sa.Column("model", sa.String(length=200), nullable=False, primary_key=primary_key),
        sa.Column("status", sa.String(length=16), nullable=False, primary_key=primary_key),
        sa.Column("n", sa.BigInteger(), nullable=False),
    ]


def _delta_id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def upgrade() -> None:
    # New tables and triggers only; no table is rebuilt, so the guards stay as they are.
    op.create_table("metric_edit_counts", *_edit_key_columns(True))
    op.create_table("metric_edit_deltas", _delta_id(), *_edit_key_columns(False))
    op.create_index("ix_metric_edit_deltas_project_id", "metric_edit_deltas", ["project_id"])
    op.create_table("metric_decision_days", *_day_key_columns(True))
    op.create_table("metric_decision_deltas", _delta_id(), *_day_key_columns(False))
    op.create_index("ix_metric_decision_deltas_project_id", "metric_decision_deltas", ["project_id"])
    op.create_table(
        "metric_item_times",
        sa.Column("project_id", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("item_id", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("submitted_at", app.models.base.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_edits_human_decided_at", "edits", ["decided_at"],
                    postgresql_where=sa.text(HUMAN_DECIDED), sqlite_where=sa.text(HUMAN_DECIDED))
    connection = op.get_bind()
    rollups.create_triggers(connection)
    rollups.rebuild(connection)  # the rows written before this migration


def downgrade() -> None:
    rollups.drop_triggers(op.get_bind())
    op.drop_index("ix_edits_human_decided_at", table_name="edits")
    for table in ("metric_item_times", "metric_decision_deltas", "metric_decision_days", "metric_edit_deltas",
                  "metric_edit_counts"):
        op.drop_table(table)
