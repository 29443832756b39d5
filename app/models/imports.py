"""Imported revision logs (issue 11): import jobs and the external ids that make imports idempotent."""
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models.base import UTCDateTime, created_at_column

IMPORT_STATUSES = ("queued", "running", "succeeded", "failed")
# Kinds of record in the import format (docs/import-format.md).
RECORD_KINDS = ("document", "run", "version", "edit", "decision", "feedback", "label")


class Import(Base):
    """One JSONL file imported into a project in the background, with its progress and errors."""
    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    filename: Mapped[str] = mapped_column(String(300), default="")
    # Where the uploaded file waits for the worker (under EMEND_EXPORT_DIR/imports).
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    bytes_total: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    lines_read: Mapped[int] = mapped_column(Integer, default=0)
    records_added: Mapped[int] = mapped_column(Integer, default=0)
    records_skipped: Mapped[int] = mapped_column(Integer, default=0)  # already imported (same external id)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # The first errors, each {"line": n, "id": external id or None, "message": ...}.
    errors: Mapped[list] = mapped_column(JSON, default=list)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # records added per kind
    error: Mapped[str | None] = mapped_column(Text)  # why the whole job failed, if it did
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImportRecord(Base):
    """An external id already imported into a project, and the row it became."""
    __tablename__ = "import_records"
    __table_args__ = (UniqueConstraint("project_id", "kind", "external_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(200))
    local_id: Mapped[int] = mapped_column(Integer)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="RESTRICT"), index=True)
