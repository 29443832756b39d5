"""JSON shapes of the documents API."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.bounds import MAX_ID, DbId


class DocumentCreate(BaseModel):
    project_id: DbId
    title: str = Field("", max_length=300)
    text: str


class DocumentCreated(BaseModel):
    id: int
    version_id: int


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    owner_id: int
    title: str
    current_version_id: int
    depth: int
    auto_repeat: bool
    stop_reason: str | None
    finished_at: datetime | None = None
    latest_run_id: int | None
    created_at: datetime
    updated_at: datetime


class VersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: int
    depth: int
    parent_id: int | None
    source_run_id: int | None
    restored_from_id: int | None
    created_at: datetime


class VersionOut(VersionSummary):
    document_id: int
    text: str


class FeedbackCreate(BaseModel):
    text: str
    run_id: DbId | None = None
    save_as: Literal["document", "project"] | None = None


class FeedbackOut(BaseModel):
    id: int
    document_id: int
    run_id: int | None
    text: str
    guideline_id: int | None


class HandEditCreate(BaseModel):
    """The writer's own change: [start, end) of the base version replaced by `text`. Without start
    and end the whole text is replaced (the change is still stored as the spans that differ)."""
    base_version_id: DbId
    text: str
    start: int | None = Field(None, ge=0, le=MAX_ID)
    end: int | None = Field(None, ge=0, le=MAX_ID)


class HandEditOut(BaseModel):
    version_id: int
    number: int
    edit_ids: list[int]
    carried_edit_ids: list[int]
    superseded_edit_ids: list[int]
    carried_run_id: int | None


class ReviseCreate(BaseModel):
    feedback: str = ""
    save_as: Literal["document", "project"] | None = None
    override: bool = Field(False, description="Revise although the loop stopped (logged as an override).")


class ReviseOut(BaseModel):
    run_id: int
