from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models.base import created_at_column


class Event(Base):
    """One row of the append-only interaction log.

    The app only inserts. Database triggers (see the first migration) refuse UPDATE and
    DELETE, and foreign keys are RESTRICT so no cascade can remove an event.
    """
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_project_id_created_at", "project_id", "created_at"),
        Index("ix_events_kind_created_at", "kind", "created_at"),
        Index("ix_events_subject", "subject_kind", "subject_id"),
        Index("ix_events_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = created_at_column()
    kind: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    source: Mapped[str] = mapped_column(String(8), default="human")
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="RESTRICT"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    subject_kind: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
