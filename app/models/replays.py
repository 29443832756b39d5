"""Replay evaluations (issue 11): a candidate model / prompt re-run on logged versions, scored
against the logged human decisions."""
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models.base import UTCDateTime, created_at_column

REPLAY_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
VARIANT_POLICIES = ("off", "fixed", "thompson")


class Replay(Base):
    __tablename__ = "replays"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # {"model", "prompt_variant", "instructions", "temperature"}
    candidate: Mapped[dict] = mapped_column(JSON, default=dict)
    # {"since", "until", "depths", "person_ids"}
    slice: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    versions_total: Mapped[int] = mapped_column(Integer, default=0)
    versions_done: Mapped[int] = mapped_column(Integer, default=0)
    versions_failed: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReplayItem(Base):
    """The candidate's proposals on one logged version (one row per version: resumable, idempotent)."""
    __tablename__ = "replay_items"
    __table_args__ = (UniqueConstraint("replay_id", "version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    replay_id: Mapped[int] = mapped_column(ForeignKey("replays.id", ondelete="RESTRICT"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="succeeded")
    proposals: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    cached: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at_column()


class Variant(Base):
    """A prompt / model variant of a project competing for a share of its new runs."""
    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    # Extra instructions given to the model with the guidelines (the prompt variant).
    instructions: Mapped[str] = mapped_column(Text, default="")
    temperature: Mapped[float] = mapped_column(Float, default=0.0)
    share: Mapped[float] = mapped_column(Float, default=1.0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()
