"""annotator and admin tools (issue 12)

Revision ID: 0006_annotator_tools
Revises: 0005_imports_replays
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import app.models.base  # noqa: F401

revision = "0006_annotator_tools"
down_revision = "0005_imports_replays"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
