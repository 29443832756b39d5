"""The import format (docs/import-format.md) as pydantic models, and the JSON API's shapes."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from app.bounds import MAX_ID, text_problem
from app.models.runs import INTENTS

ExternalId = Annotated[str, Field(min_length=1, max_length=200)]
Person = Annotated[str, Field(min_length=1, max_length=254)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    id: ExternalId

    @model_validator(mode="after")
    def _storable(self):
        # PostgreSQL cannot hold a NUL in text: refused here, with the line, on every backend alike.
        for name, value in self:
            problem = text_problem(value) if isinstance(value, str) else None
            if problem:
                raise ValueError(f"{name} {problem}")
        return self


class DocumentRecord(_Record):
    type: Literal["document"]
    title: str = Field(default="Imported document", max_length=300)
    owner: Person | None = None
    created_at: datetime | None = None
    stop_reason: Literal["no_edits", "max_depth"] | None = None


class RunRecord(_Record):
    type: Literal["run"]
    version: ExternalId
    model: str = Field(min_length=1, max_length=200)
    status: Literal["succeeded", "failed", "cancelled"] = "succeeded"
    feedback: str = ""
    created_at: datetime | None = None
    finished_at: datetime | None = None
    dropped_repeats: int = Field(default=0, ge=0, le=MAX_ID)
    person: Person | None = None
    # The logged policy's probability of having run this model / prompt (a variant assignment).
    propensity: float | None = Field(default=None, gt=0, le=1)


class VersionRecord(_Record):
    type: Literal["version"]
    document: ExternalId
    depth: int = Field(ge=0, le=MAX_ID)
    text: str
    parent: ExternalId | None = None
    run: ExternalId | None = None  # the run whose decisions made this version
    person: Person | None = None
    created_at: datetime | None = None


class EditRecord(_Record):
    type: Literal["edit"]
    version: ExternalId
    start: int = Field(ge=0, le=MAX_ID)
    end: int = Field(ge=0, le=MAX_ID)
    original: str
    replacement: str
    intent: str = "other"
    model: str | None = Field(default=None, max_length=200)
    run: ExternalId | None = None
    rationale: str = ""
    confidence: float | None = Field(default=None, ge=0, le=1)
    shown_position: int | None = Field(default=None, ge=0, le=MAX_ID)
    created_at: datetime | None = None

    @field_validator("intent")
    @classmethod
    def _known_intent(cls, value: str) -> str:
        if value not in INTENTS:
            raise ValueError(f"intent must be one of {', '.join(INTENTS)}")
        return value

    @model_validator(mode="after")
    def _span(self):
        if self.end < self.start:
            raise ValueError("end is before start")
        if self.end - self.start != len(self.original):
            raise ValueError("end - start must be the length of original")
        if self.run is None and self.model is None:
            raise ValueError("an edit needs a run or a model")
        return self


class DecisionRecord(_Record):
    type: Literal["decision"]
    edit: ExternalId
    decision: Literal["accepted", "rejected", "modified"]
    replacement: str | None = None
    person: Person | None = None
    at: datetime | None = None
    source: Literal["human", "ai"] = "human"
    confidence: float | None = Field(default=None, ge=0, le=1)  # of an ai (shadow-user) decision
    comment: str = ""

    @model_validator(mode="after")
    def _modified(self):
        if self.decision == "modified" and self.replacement is None:
            raise ValueError("a modified decision needs its replacement")
        if self.source == "human" and self.person is None:
            raise ValueError("a human decision needs its person")
        return self


class FeedbackRecord(_Record):
    type: Literal["feedback"]
    document: ExternalId
    text: str = Field(min_length=1)
    person: Person
    run: ExternalId | None = None  # the run the feedback is about
    used_by_run: ExternalId | None = None  # the run that received it as its instruction
    at: datetime | None = None


class LabelRecord(_Record):
    type: Literal["label"]
    target: Literal["edit", "segment"]
    label: Literal[-1, 0, 1] | None
    person: Person
    edit: ExternalId | None = None
    version: ExternalId | None = None
    step: int = Field(default=0, ge=0, le=MAX_ID)
    segment_text: str | None = None
    comment: str = ""
    source: Literal["human", "ai"] = "human"
    at: datetime | None = None

    @model_validator(mode="after")
    def _target(self):
        if self.target == "edit" and self.edit is None:
            raise ValueError("an edit label needs `edit`")
        if self.target == "segment" and self.version is None:
            raise ValueError("a segment label needs `version`")
        return self


Record = Annotated[
    DocumentRecord | RunRecord | VersionRecord | EditRecord | DecisionRecord | FeedbackRecord | LabelRecord,
    Field(discriminator="type"),
]
RECORD = TypeAdapter(Record)


class ImportError_(BaseModel):
    line: int
    id: str | None = None
    message: str


class ImportOut(BaseModel):
    id: int
    project_id: int
    filename: str
    status: str
    progress: int
    lines_read: int
    records_added: int
    records_skipped: int
    error_count: int
    errors: list[ImportError_]
    counts: dict[str, int]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
