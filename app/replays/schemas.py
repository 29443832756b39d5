"""JSON API shapes of replays."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from app.bounds import DbId


class ReplayCreate(BaseModel):
    project_id: DbId
    model: str = Field(min_length=1, max_length=200, description="the candidate's litellm model string")
    prompt_variant: str = Field(default="", max_length=64, description="a name; a project variant's instructions "
                                "are used when `instructions` is empty")
    instructions: str = Field(default="", max_length=4000, description="extra instructions given with the guidelines")
    temperature: float | None = Field(default=None, ge=0, le=2)
    since: date | None = None
    until: date | None = Field(default=None, description="inclusive")
    depths: list[Annotated[int, Field(ge=0, le=10_000)]] = Field(default_factory=list, max_length=100)
    person_ids: list[DbId] = Field(default_factory=list, max_length=1000)
    name: str = Field(default="", max_length=200)


class ReplayOut(BaseModel):
    id: int
    project_id: int
    name: str
    candidate: dict
    slice: dict
    status: str
    progress: int
    versions_total: int
    versions_done: int
    versions_failed: int
    results: dict | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
