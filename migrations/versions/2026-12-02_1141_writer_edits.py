"""writer edits, superseded edits, finished documents (issue 9 pages)

Revision ID: 0003_writer_edits
Revises: 0002_sessions_heartbeat
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import app.models.base  # noqa: F401

revision = "0003_writer_edits"
down_revision = "0002_sessions_heartbeat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
