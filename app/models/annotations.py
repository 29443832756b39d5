from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models.base import UTCDateTime, created_at_column

# What an annotation can point at. Segments are steps of a version: target_id is the
# version id and `step` the segment's index in the project's segmentation.
TARGET_KINDS = ("run", "stage", "critique", "edit", "segment")


class Annotation(Base):
    """A person's current label on one step; every change is also an event, so history is kept."""
    __tablename__ = "annotations"
    __table_args__ = (
        UniqueConstraint("user_id", "target_kind", "target_id", "step"),
        CheckConstraint("label IS NULL OR label IN (-1, 0, 1)", name="label_known"),
        CheckConstraint("target_kind IN ('run', 'stage', 'critique', 'edit', 'segment')", name="target_kind_known"),
        Index("ix_annotations_target", "target_kind", "target_id", "step"),
        Index("ix_annotations_project_id_updated_at", "project_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer, default=0)
    # For segments: how the version was split and the step's text when it was labelled.
    segment_unit: Mapped[str | None] = mapped_column(String(16))
    segment_text: Mapped[str | None] = mapped_column(Text)
    label: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    correction: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(8), default="human")
    queue_item_id: Mapped[int | None] = mapped_column(ForeignKey("queue_items.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class Queue(Base):
    """Runs or documents put in front of assigned annotators, each item seen by `overlap` of them."""
    __tablename__ = "queues"
    __table_args__ = (
        CheckConstraint("overlap >= 1", name="overlap_positive"),
        CheckConstraint("item_kind IN ('run', 'document')", name="item_kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    item_kind: Mapped[str] = mapped_column(String(16), default="run")
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    claim_timeout_seconds: Mapped[int] = mapped_column(Integer, default=1800)
    blind: Mapped[bool] = mapped_column(Boolean, default=True)
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    instructions: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()

    items: Mapped[list["QueueItem"]] = relationship(back_populates="queue", order_by="QueueItem.position")


class QueueAssignee(Base):
    __tablename__ = "queue_assignees"
    __table_args__ = (UniqueConstraint("queue_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class QueueItem(Base):
    __tablename__ = "queue_items"
    __table_args__ = (
        CheckConstraint("(run_id IS NOT NULL) <> (document_id IS NOT NULL)", name="one_target"),
        Index("ix_queue_items_queue_id_position", "queue_id", "position"),
        # "Next item" walks only the items with room left, in order, so a queue whose first
        # thousands are done is not scanned (has_room is kept with active_claims < overlap).
        Index("ix_queue_items_open", "queue_id", "position",
              postgresql_where=text("has_room"), sqlite_where=text("has_room = 1")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="RESTRICT"))
    # Claims that are live or submitted; "next item" keeps this below the queue's overlap.
    active_claims: Mapped[int] = mapped_column(Integer, default=0)
    submitted_count: Mapped[int] = mapped_column(Integer, default=0)
    # active_claims < the queue's overlap, kept by every UPDATE of active_claims (queues._bump).
    has_room: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = created_at_column()

    queue: Mapped[Queue] = relationship(back_populates="items")


class QueueClaim(Base):
    """One annotator working on one item: claimed, then submitted or released (idle timeout)."""
    __tablename__ = "queue_claims"
    __table_args__ = (
        UniqueConstraint("item_id", "user_id"),
        # Open claims are few (each annotator holds one, plus one prefetched): these keep the
        # current-claim lookup and the idle sweep off the submitted history.
        Index("ix_queue_claims_open_user", "user_id",
              postgresql_where=text("submitted_at IS NULL AND released_at IS NULL"),
              sqlite_where=text("submitted_at IS NULL AND released_at IS NULL")),
        Index("ix_queue_claims_open_claimed_at", "claimed_at",
              postgresql_where=text("submitted_at IS NULL AND released_at IS NULL"),
              sqlite_where=text("submitted_at IS NULL AND released_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    claimed_at: Mapped[datetime] = created_at_column()
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class QueueItemTag(Base):
    """A short tag on a queue item (shared by everyone who works the queue)."""
    __tablename__ = "queue_item_tags"
    __table_args__ = (UniqueConstraint("item_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="RESTRICT"))
    tag: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()


class QueueItemComment(Base):
    """One message of a queue item's comment thread."""
    __tablename__ = "queue_item_comments"
    __table_args__ = (Index("ix_queue_item_comments_item_id_id", "item_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped["User"] = relationship()  # noqa: F821


class Comparison(Base):
    """A person's pick between two candidate revisions of the same version."""
    __tablename__ = "comparisons"
    __table_args__ = (CheckConstraint("choice IN ('a', 'b', 'tie')", name="choice_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="RESTRICT"))
    run_a_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    run_b_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    choice: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(8), default="human")
    created_at: Mapped[datetime] = created_at_column()
