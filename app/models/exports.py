from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models.base import UTCDateTime, created_at_column

EXPORT_FORMATS = ("sft", "preference", "unpaired", "stepwise", "critique_refinement", "events")
EXPORT_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")


class Export(Base):
    """A dataset built from the log in the background: files, manifest and dataset card."""
    __tablename__ = "exports"
    __table_args__ = (
        CheckConstraint(
            "format IN ('sft', 'preference', 'unpaired', 'stepwise', 'critique_refinement', 'events')",
            name="format_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    format: Mapped[str] = mapped_column(String(32))
    # Filters and options (since, until, source, model, max_depth, parquet, gzip, pseudonymise, flavour...).
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    rows_estimate: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(String(500))
    manifest: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
