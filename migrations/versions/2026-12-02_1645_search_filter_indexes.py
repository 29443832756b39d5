"""search filter indexes on edits, and joint statistics of intent and status (issue 12)

Revision ID: 0009_search_filter_indexes
Revises: 0008_metric_rollups
"""
from alembic import op

revision = "0009_search_filter_indexes"
down_revision = "0008_metric_rollups"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_edits_status_id": ["status", "id"],
    "ix_edits_intent_status_id": ["intent", "status", "id"],
    "ix_edits_decided_by_id_id": ["decided_by_id", "id"],
}


def upgrade() -> None:
    # Plain CREATE INDEX: edits is not rebuilt, so its guard and rollup triggers stay.
    for name, columns in INDEXES.items():
        op.create_index(name, "edits", columns)
    if op.get_bind().dialect.name == "postgresql":
        # Without it the planner multiplies the two selectivities and expects a combination that
        # never occurs to be found after a few rows of a backward scan of every edit.
        op.execute("CREATE STATISTICS st_edits_intent_status (mcv, dependencies) ON intent, status FROM edits")
        op.execute("ANALYZE edits")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_edits_intent_status")
    for name in INDEXES:
        op.drop_index(name, table_name="edits")
