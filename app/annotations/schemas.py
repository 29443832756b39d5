"""JSON shapes of the annotations API."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.bounds import MAX_ID, DbId


class AnnotationIn(BaseModel):
    target_kind: Literal["run", "stage", "critique", "edit", "segment"]
    target_id: DbId
    step: int = Field(0, ge=0, le=MAX_ID, description="For segments: the step's index in the version.")
    label: Literal[-1, 0, 1] | None = None
    comment: str = Field("", max_length=10_000)
    correction: str | None = Field(None, max_length=200_000)
    queue_item_id: DbId | None = None
    stop_at_first_error: bool = False


class AnnotationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    user_id: int
    target_kind: str
    target_id: int
    step: int
    segment_unit: str | None
    segment_text: str | None
    label: int | None
    comment: str
    correction: str | None
    source: str
    queue_item_id: int | None
    created_at: datetime
    updated_at: datetime


class QueueItemOut(BaseModel):
    queue_id: int
    item_id: int
    position: int
    run_id: int | None
    document_id: int | None
    version_id: int | None = Field(None, description="For document items: the version whose steps to label.")
    claimed_at: datetime
    submitted_at: datetime | None
    blind: bool


class NextItemOut(BaseModel):
    item: QueueItemOut | None = Field(None, description="None when nothing is left for you in the queue.")


class CorrectionIn(BaseModel):
    parsed_output: Any = Field(None, description="The stage's corrected parsed output (JSON value), "
                                                 "e.g. {\"critiques\": [...]}. Give this or rows.")
    rows: list[dict[str, Any]] | None = Field(
        None, max_length=5_000,
        description="The corrected rows (critiques, edits or scores, one object per row with the fields "
                    "of the stage's schema); the same as parsed_output {<list>: rows}.")
    comment: str = Field("", max_length=10_000)

    @model_validator(mode="after")
    def _one_form(self):
        if (self.parsed_output is None) == (self.rows is None):
            raise ValueError("Give either parsed_output or rows.")
        return self


class CorrectionOut(BaseModel):
    annotation: AnnotationOut
    run_id: int
    parent_run_id: int


class ComparisonIn(BaseModel):
    version_id: DbId
    run_a_id: DbId
    run_b_id: DbId
    choice: Literal["a", "b", "tie"]
    reason: str = Field("", max_length=5_000)


class ComparisonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    version_id: int
    run_a_id: int
    run_b_id: int
    user_id: int
    choice: str
    reason: str
    source: str
    created_at: datetime


class PairOut(BaseModel):
    annotators: list[int]
    units: int
    kappa: float | None


class AgreementOut(BaseModel):
    annotators: int
    units: int
    overlapping_units: int
    labels: int
    kappa: float | None = Field(None, description="Cohen's κ (mean over pairs of annotators).")
    alpha: float | None = Field(None, description="Krippendorff's α, ordinal.")
    pairs: list[PairOut]


class QueueAgreementOut(BaseModel):
    queue_id: int
    overall: AgreementOut
    by_target_kind: dict[str, AgreementOut]


class TagIn(BaseModel):
    tag: str = Field(..., min_length=1, max_length=64)


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    tag: str
    user_id: int
    created_at: datetime


class ItemCommentIn(BaseModel):
    body: str = Field(..., min_length=1, max_length=5_000)


class ItemCommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    user_id: int
    body: str
    created_at: datetime


class ItemNotesOut(BaseModel):
    tags: list[TagOut]
    comments: list[ItemCommentOut]
    hidden_comments: int = Field(..., description="Others' comments held back until you submit (blind queues).")


class ShortcutsIn(BaseModel):
    keys: dict[Literal["good", "neutral", "bad", "comment", "next", "previous", "submit", "help"],
               Annotated[list[Annotated[str, Field(max_length=16)]], Field(max_length=8)]] = Field(default_factory=dict, description="Keys per action; an action left out keeps "
                                                                    "its current keys.")
    advance: bool = Field(True, description="Labelling a step moves on to the next step.")


class ShortcutsOut(BaseModel):
    keys: dict[str, list[str]]
    advance: bool
