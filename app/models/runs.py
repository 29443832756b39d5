from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models.base import UTCDateTime, created_at_column

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
STAGE_NAMES = ("critique", "propose", "verify")
STAGE_STATUSES = ("pending", "running", "succeeded", "failed", "skipped")
INTENTS = ("fluency", "clarity", "coherence", "style", "meaning-changed", "other")
# superseded: the writer rewrote the passage by hand, or the edit was carried over to the new version.
EDIT_STATUSES = ("pending", "accepted", "rejected", "modified", "superseded")
EDIT_SOURCES = ("ai", "human")
SOURCES = ("human", "ai")


class Run(Base):
    """One model pass over one version: a sequence of stages."""
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="status_known"),
        Index("ix_runs_document_id_created_at", "document_id", "created_at"),
        Index("ix_runs_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="RESTRICT"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="RESTRICT"), index=True)
    # Correct-and-rerun: the run this one was derived from, and the stage position it resumed after.
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"), index=True)
    rerun_from_position: Mapped[int | None] = mapped_column(Integer)
    correction_annotation_id: Mapped[int | None] = mapped_column(
        ForeignKey("annotations.id", ondelete="RESTRICT", use_alter=True, name="fk_runs_correction_annotation_id_annotations")
    )
    # Pairwise comparisons run prompt or model variants; the label says which.
    variant: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    feedback: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    # Edits the model proposed again although they were rejected before (Feedback Friction).
    dropped_repeats: Mapped[int] = mapped_column(Integer, default=0)
    dropped_by_verify: Mapped[int] = mapped_column(Integer, default=0)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Written by the worker every few seconds while it holds the run; beat re-sends or fails
    # runs whose heartbeat (or, while queued, whose creation) is older than EMEND_RUN_STALE_SECONDS.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The delivery (Celery task id) that holds the run; another delivery takes over only once the
    # heartbeat is stale, so a message delivered twice never runs the pipeline twice at once.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Long documents run in chunks (paragraph-aligned); each stage x chunk is a RunChunk row.
    chunk_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The technical text behind `error` (the provider's own message), one click away on the pages.
    error_detail: Mapped[str | None] = mapped_column(Text)
    applied_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("versions.id", ondelete="RESTRICT", use_alter=True, name="fk_runs_applied_version_id_versions")
    )

    document: Mapped["Document"] = relationship()  # noqa: F821
    version: Mapped["Version"] = relationship(foreign_keys=[version_id])  # noqa: F821
    stages: Mapped[list["Stage"]] = relationship(back_populates="run", order_by="Stage.position")
    edits: Mapped[list["Edit"]] = relationship(back_populates="run", order_by="Edit.start")


class Stage(Base):
    """One step of a run's pipeline, with everything sent and received."""
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    model: Mapped[str] = mapped_column(String(200), default="")
    messages: Mapped[list] = mapped_column(JSON, default=list)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    raw_output: Mapped[str | None] = mapped_column(Text)
    parsed_output: Mapped[dict | list | None] = mapped_column(JSON)
    # Set when an annotator replaced the parsed output (correct-and-rerun).
    corrected: Mapped[bool] = mapped_column(default=False)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cached: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    run: Mapped[Run] = relationship(back_populates="stages")
    chunks: Mapped[list["RunChunk"]] = relationship(back_populates="stage", order_by="RunChunk.chunk")


class RunChunk(Base):
    """One unit of a run's work: one stage over one chunk of the version's text. Idempotent and
    resumable: a worker that died leaves some of these done, and the next delivery does the rest.
    The stage row holds the merged, document-level result once every chunk of it is done."""
    __tablename__ = "run_chunks"
    __table_args__ = (UniqueConstraint("run_id", "position", "chunk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    chunk: Mapped[int] = mapped_column(Integer)
    # The chunk's span in the version text; parsed offsets below are document offsets.
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="running")
    model: Mapped[str] = mapped_column(String(200), default="")
    messages: Mapped[list] = mapped_column(JSON, default=list)
    raw_output: Mapped[str | None] = mapped_column(Text)
    parsed_output: Mapped[dict | None] = mapped_column(JSON)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cached: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    error_detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    stage: Mapped[Stage] = relationship(back_populates="chunks")


class Critique(Base):
    """A step-level comment of the model on a segment of a version."""
    __tablename__ = "critiques"
    __table_args__ = (CheckConstraint("start >= 0 AND \"end\" >= start", name="span_ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="RESTRICT"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    # The writer's answer on the document page: "addressed" (sent as feedback) or "dismissed".
    writer_status: Mapped[str | None] = mapped_column(String(16))


class Edit(Base):
    """A proposed change to a span of a version, and the person's current decision on it."""
    __tablename__ = "edits"
    __table_args__ = (
        CheckConstraint("start >= 0 AND \"end\" >= start", name="span_ordered"),
        CheckConstraint("status IN ('pending', 'accepted', 'rejected', 'modified', 'superseded')", name="status_known"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        CheckConstraint(
            "intent IN ('fluency', 'clarity', 'coherence', 'style', 'meaning-changed', 'other')", name="intent_known"
        ),
        Index("ix_edits_run_id_start", "run_id", "start"),
        Index("ix_edits_version_id_status", "version_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for the writer's own edits (source "human"): no model pass made them.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="RESTRICT"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="RESTRICT"))
    # "ai": proposed by a model; "human": the writer's own change, typed in edit mode (always applied).
    source: Mapped[str] = mapped_column(String(8), default="ai", server_default="ai")
    # A human edit: the version it made. A carried edit: the edit of the older version it continues.
    revised_version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id", ondelete="RESTRICT"))
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("edits.id", ondelete="RESTRICT"))
    # A superseded edit: the human edit that rewrote its span (None when it was carried over).
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("edits.id", ondelete="RESTRICT"))
    # Why the edit is superseded, in words the writer reads.
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    original: Mapped[str] = mapped_column(Text)
    replacement: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(32), default="other")
    rationale: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.5)
    verify_score: Mapped[float | None] = mapped_column(Float)
    # The current decision: one per edit by construction; its history is in the event log.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_replacement: Mapped[str | None] = mapped_column(Text)
    decision_source: Mapped[str | None] = mapped_column(String(8))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    comment: Mapped[str] = mapped_column(Text, default="")
    # Shadow user: the predicted decision, kept even after a person decides.
    predicted_status: Mapped[str | None] = mapped_column(String(16))
    predicted_confidence: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = created_at_column()

    run: Mapped[Run | None] = relationship(back_populates="edits")

    # A shadow-user prediction (decision_source "ai") is a suggestion until a person confirms it.
    @property
    def undecided(self) -> bool:
        return self.status == "pending" or self.decision_source == "ai"

    @classmethod
    def undecided_clause(cls):
        """`undecided` as a SQL condition."""
        return (cls.status == "pending") | (cls.decision_source == "ai")


class Feedback(Base):
    """A person's free-text instruction for the next pass."""
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="RESTRICT"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"), index=True)
    # The run that received this feedback as its instruction.
    used_by_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class Guideline(Base):
    """Feedback saved for later runs, scoped to one document or to the whole project (DROC, C3PO)."""
    __tablename__ = "guidelines"
    __table_args__ = (Index("ix_guidelines_project_id_document_id", "project_id", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="RESTRICT"))
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()


class LlmCacheEntry(Base):
    """Response cache of the model gateway, keyed by a hash of (model, messages, parameters)."""
    __tablename__ = "llm_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at_column()
