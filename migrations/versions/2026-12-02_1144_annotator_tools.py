"""annotator and admin tools (issue 12)

Revision ID: 0006_annotator_tools
Revises: 0005_imports_replays
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op

import app.models.base  # noqa: F401

revision = "0006_annotator_tools"
down_revision = "0005_imports_replays"
branch_labels = None
depends_on = None


# Full-text search (app/search/service.py): GIN indexes on the very expressions the search
# matches, PostgreSQL only (SQLite searches with LIKE). Plain CREATE INDEX: the tables are not
# rebuilt, so the guard triggers stay.
FTS_INDEXES = {
    "ix_edits_fts": ("edits", ("coalesce(original, '') || ' ' || coalesce(replacement, '') || ' ' || "
                               "coalesce(rationale, '')")),
    "ix_critiques_fts": ("critiques", "coalesce(segment, '') || ' ' || coalesce(text, '')"),
    "ix_runs_fts": ("runs", "coalesce(feedback, '') || ' ' || coalesce(error, '')"),
    "ix_annotations_fts": ("annotations", "coalesce(comment, '') || ' ' || coalesce(correction, '')"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, expr) in FTS_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {table} USING gin (to_tsvector('english'::regconfig, {expr}))")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in FTS_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
