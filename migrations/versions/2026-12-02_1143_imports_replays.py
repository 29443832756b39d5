"""imports, replays, variants (issue 11)

Revision ID: 0005_imports_replays
Revises: 0004_run_chunks
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import app.models.base  # noqa: F401

revision = "0005_imports_replays"
down_revision = "0004_run_chunks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
