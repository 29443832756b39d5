"""JSON shapes of the exports API."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.bounds import DbId


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["sft", "preference", "unpaired", "stepwise", "critique_refinement", "events"]
    project_id: DbId | None = None
    since: str | None = Field(None, max_length=40)
    until: str | None = Field(None, max_length=40)
    source: Literal["human", "ai", "all"] = "all"
    model: str | None = Field(None, max_length=200)
    max_depth: int | None = Field(None, ge=0, le=1000)
    person_id: DbId | None = None
    jsonl: bool = True
    parquet: bool = False
    gzip: bool = False
    pseudonymise: bool = False
    flavour: Literal["trl", "openai"] = "trl"
    neutral_as: Literal["false", "true", "drop"] = "false"
    edit_level: bool = True
    licence: str = Field("unknown", max_length=200)
    pair_kinds: list[str] | None = Field(None, max_length=20, description="preference: keep only these pair kinds")

    def options(self) -> dict:
        return self.model_dump(exclude={"format", "project_id"})


class ExportFile(BaseModel):
    name: str
    rows: int | None = None
    bytes: int | None = None
    sha256: str | None = None
    url: str


class ExportOut(BaseModel):
    id: int
    format: str
    project_id: int | None
    status: str
    rows_written: int
    rows_estimate: int | None
    progress: int
    options: dict
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    files: list[ExportFile]
    manifest: dict | None
