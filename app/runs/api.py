"""JSON API of runs: start, read, cancel (the same services as the pages)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.accounts.deps import DbSession, scoped
from app.models import User
from app.runs import progress, service
from app.runs.schemas import RunOut, RunStart, RunStarted

router = APIRouter(prefix="/api/v1", tags=["runs"])
Reader = Annotated[User, scoped("read")]
Writer = Annotated[User, scoped("write")]


@router.post("/documents/{document_id}/runs", response_model=RunStarted, status_code=201)
def start_run(document_id: int, body: RunStart, session: DbSession, user: Writer):
    """Queue a revision run on the document's current version."""
    run = service.start_run(session, document_id=document_id, user=user, feedback=body.feedback)
    return RunStarted(run_id=run.id)


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: int, session: DbSession, user: Reader):
    """A run's status, stages and edits; stop_reason says why the document's loop stopped."""
    run = service.run_detail(session, run_id=run_id, user=user)
    return RunOut.of(run, progress.chunk_progress(session, run))


@router.post("/runs/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: int, session: DbSession, user: Writer):
    """Cancel a queued or running run (the worker stops before its next stage)."""
    service.cancel_run(session, run_id=run_id, user=user)
    return RunOut.of(service.run_detail(session, run_id=run_id, user=user))
