"""JSON shapes of the edits API."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class DecisionIn(BaseModel):
    decision: Literal["accept", "reject", "modify"]
    replacement: str | None = None
    comment: str | None = None
    # The edit's status when the client last saw it: a different decision made meanwhile (another
    # tab, another person) answers 409 instead of being overwritten silently.
    seen_status: Literal["pending", "accepted", "rejected", "modified"] | None = None


class DecideAllIn(BaseModel):
    decision: Literal["accept", "reject"]


class EditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: int
    version_id: int
    start: int
    end: int
    original: str
    replacement: str
    intent: str
    rationale: str
    confidence: float
    status: str
    decided_replacement: str | None
    decision_source: str | None
    decided_by_id: int | None
    decided_at: datetime | None
    comment: str


class DecideAllOut(BaseModel):
    decided: int
    edits: list[EditOut]


class AppliedOut(BaseModel):
    version_id: int
    depth: int
    number: int
    stop_reason: str | None
