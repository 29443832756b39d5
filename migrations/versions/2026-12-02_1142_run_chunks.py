"""runs in chunks (issue 9 pipeline)

Revision ID: 0004_run_chunks
Revises: 0003_writer_edits
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import app.models.base  # noqa: F401

revision = "0004_run_chunks"
down_revision = "0003_writer_edits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
