"""JSON shapes of the edits API."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DecisionIn(BaseModel):
    decision: Literal["accept", "reject", "modify"]
    replacement: str | None = None
    comment: str | None = None
    # The edit's status when the client last saw it: a different decision made meanwhile (another
    # tab, another person) answers 409 instead of being overwritten silently.
    seen_status: Literal["pending", "accepted", "rejected", "modified"] | None = None


class DecideAllIn(BaseModel):
    decision: Literal["accept", "reject"]


Intent = Literal["fluency", "clarity", "coherence", "style", "meaning-changed", "other"]
Status = Literal["pending", "accepted", "rejected", "modified"]


class EditFilterIn(BaseModel):
    """Which edits of a run: every field narrows the set; an empty list means any."""
    intents: list[Intent] = Field(default_factory=list, max_length=6)
    statuses: list[Status] = Field(default_factory=list, max_length=4)
    min_confidence: float | None = Field(None, ge=0, le=1)
    max_confidence: float | None = Field(None, ge=0, le=1)


class DecideFilteredIn(EditFilterIn):
    """Accept or reject the filtered set; without statuses, only its pending edits."""
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


class EditPageOut(BaseModel):
    total: int
    offset: int
    next_offset: int | None
    edits: list[EditOut]
