from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models.base import UTCDateTime, created_at_column

SEGMENT_UNITS = ("sentence", "line", "paragraph")


class Project(Base):
    """A workspace: members, model settings, pipeline settings, guidelines."""
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("max_depth >= 1", name="max_depth_positive"),
        CheckConstraint("verify_threshold >= 0 AND verify_threshold <= 1", name="verify_threshold_range"),
        CheckConstraint("segment_unit IN ('sentence', 'line', 'paragraph')", name="segment_unit_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    guidelines: Mapped[str] = mapped_column(Text, default="")
    # Model gateway settings (litellm model string; keys come from the environment).
    model: Mapped[str] = mapped_column(String(200), default="emend/offline-reviser")
    temperature: Mapped[float] = mapped_column(Float, default=0.0)
    max_tokens: Mapped[int] = mapped_column(Integer, default=2048)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=60.0)
    max_retries: Mapped[int] = mapped_column(Integer, default=3)
    cache_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Pipeline settings.
    max_depth: Mapped[int] = mapped_column(Integer, default=3)
    verify_threshold: Mapped[float] = mapped_column(Float, default=0.5)
    segment_unit: Mapped[str] = mapped_column(String(16), default="sentence")
    auto_apply: Mapped[bool] = mapped_column(Boolean, default=False)
    shadow_user: Mapped[bool] = mapped_column(Boolean, default=False)
    share_documents: Mapped[bool] = mapped_column(Boolean, default=False)
    # Spelling locale of the offline reviser: "auto" (detected from the text), "en-US" or "en-GB".
    locale: Mapped[str] = mapped_column(String(8), default="auto", server_default="auto")
    # How new runs are assigned to the project's variants (app/variants): off, fixed or thompson.
    variant_policy: Mapped[str] = mapped_column(String(16), default="off", server_default="off")
    created_at: Mapped[datetime] = created_at_column()
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    memberships: Mapped[list["Membership"]] = relationship(back_populates="project")  # noqa: F821
