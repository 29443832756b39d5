"""Pydantic models for projects: the settings rules (shared by the settings page and the JSON API)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ModelString = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                               pattern=r"^\S+$")]


class ProjectSettingsUpdate(BaseModel):
    """Every editable project setting; a PATCH sends only the ones it changes."""
    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, title="Name")
    description: str | None = Field(None, title="Description", max_length=10_000)
    guidelines: str | None = Field(None, title="Guidelines", max_length=50_000)
    model: ModelString | None = Field(None, title="Model", description="A litellm model string, e.g. "
                                      "emend/offline-reviser or openai/gpt-4o-mini.")
    temperature: float | None = Field(None, title="Temperature", ge=0, le=2)
    max_tokens: int | None = Field(None, title="Max tokens", ge=1, le=200_000)
    timeout_seconds: float | None = Field(None, title="Timeout (seconds)", gt=0, le=3600)
    max_retries: int | None = Field(None, title="Retries", ge=0, le=10)
    cache_enabled: bool | None = Field(None, title="Response cache")
    max_depth: int | None = Field(None, title="Max depth", ge=1, le=50)
    verify_threshold: float | None = Field(None, title="Verify threshold", ge=0, le=1)
    segment_unit: Literal["sentence", "line", "paragraph"] | None = Field(None, title="Segment unit")
    locale: Literal["auto", "en-US", "en-GB"] | None = Field(
        None, title="Spelling locale", description="auto: detected from the text; no spelling is converted across locales.")
    auto_apply: bool | None = Field(None, title="Auto-apply")
    shadow_user: bool | None = Field(None, title="Shadow user")
    share_documents: bool | None = Field(None, title="Share documents")


SETTING_FIELDS = tuple(ProjectSettingsUpdate.model_fields)
BOOLEAN_FIELDS = ("cache_enabled", "auto_apply", "shadow_user", "share_documents")


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    guidelines: str
    model: str
    temperature: float
    max_tokens: int
    timeout_seconds: float
    max_retries: int
    cache_enabled: bool
    max_depth: int
    verify_threshold: float
    segment_unit: str
    locale: str
    auto_apply: bool
    shadow_user: bool
    share_documents: bool
    created_at: datetime


class ProjectWithRole(BaseModel):
    id: int
    name: str
    description: str
    model: str
    role: str


class MemberOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: str
    since: datetime
