"""JSON shapes of the runs API."""
from __future__ import annotations

from pydantic import BaseModel, Field


class RunStart(BaseModel):
    feedback: str = Field("", max_length=5000, description="Free-text instruction for this run.")


class RunStarted(BaseModel):
    run_id: int


class StageOut(BaseModel):
    position: int
    name: str
    status: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    latency_ms: int
    attempts: int
    cached: bool
    corrected: bool
    error: str | None


class EditOut(BaseModel):
    id: int
    original: str
    replacement: str
    start: int
    end: int
    intent: str
    rationale: str
    confidence: float
    verify_score: float | None
    status: str


class RunOut(BaseModel):
    id: int
    document_id: int
    version_id: int
    status: str
    stop_reason: str | None = Field(description="Why the document's revision loop stopped, if it did.")
    error: str | None = Field(description="What went wrong, in plain words.")
    error_detail: str | None = Field(None, description="The provider's own error text behind `error`.")
    model: str
    variant: str
    parent_run_id: int | None
    dropped_repeats: int
    dropped_by_verify: int
    tokens_in: int
    tokens_out: int
    cost: float
    chunk_count: int = Field(1, description="Chunks the version was split into (each stage runs per chunk).")
    chunks_done: int = Field(0, description="Chunks through every stage so far.")
    stages: list[StageOut]
    edits: list[EditOut]

    @classmethod
    def of(cls, run, progress=None) -> RunOut:
        return cls(
            id=run.id, document_id=run.document_id, version_id=run.version_id, status=run.status,
            stop_reason=run.document.stop_reason, error=run.error, model=run.model, variant=run.variant,
            parent_run_id=run.parent_run_id, dropped_repeats=run.dropped_repeats,
            dropped_by_verify=run.dropped_by_verify, tokens_in=run.tokens_in, tokens_out=run.tokens_out,
            cost=run.cost, error_detail=run.error_detail, chunk_count=run.chunk_count or 1,
            chunks_done=progress.done if progress is not None else 0,
            stages=[StageOut.model_validate(s, from_attributes=True) for s in run.stages],
            edits=[EditOut.model_validate(e, from_attributes=True) for e in run.edits],
        )
