from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models.base import UTCDateTime, created_at_column

STOP_REASONS = ("no_edits", "max_depth", "finished")


class Document(Base):
    """A text owned by a writer inside a project."""
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    # Points at the newest version; set right after the first version is made.
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("versions.id", ondelete="RESTRICT", use_alter=True, name="fk_documents_current_version_id_versions")
    )
    auto_repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why the loop stopped at the current version (no_edits / max_depth), or None while it can go on.
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    # Set while the writer has marked the document finished (stop_reason "finished"); reopening clears it.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    project: Mapped["Project"] = relationship()  # noqa: F821
    owner: Mapped["User"] = relationship()  # noqa: F821
    current_version: Mapped["Version | None"] = relationship(foreign_keys=[current_version_id], post_update=True)


class Version(Base):
    """An immutable snapshot of a document's text. Depth 0 is the original."""
    __tablename__ = "versions"
    __table_args__ = (
        UniqueConstraint("document_id", "number"),
        CheckConstraint("depth >= 0", name="depth_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="RESTRICT"), index=True)
    # 1, 2, 3 ... in the order versions were made; depth counts revision passes (R3).
    number: Mapped[int] = mapped_column(Integer)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id", ondelete="RESTRICT"))
    source_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT", use_alter=True, name="fk_versions_source_run_id_runs"))
    restored_from_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()

    document: Mapped[Document] = relationship(foreign_keys=[document_id])
