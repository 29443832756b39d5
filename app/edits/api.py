"""JSON routes for decisions on edits and applying runs (the same services as the pages)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.deps import DbSession, scoped
from app.edits import service, window
from app.edits.schemas import (
    AppliedOut,
    DecideAllIn,
    DecideAllOut,
    DecideFilteredIn,
    DecisionIn,
    EditOut,
    EditPageOut,
    Intent,
    Status,
)
from app.models import User

router = APIRouter(prefix="/api/v1", tags=["edits"])


@router.get("/edits/{edit_id}", response_model=EditOut)
def get_edit(edit_id: int, session: DbSession, user: User = scoped("read")):
    edit, _run = service.get_edit(session, edit_id=edit_id, user=user)
    return edit


@router.post("/edits/{edit_id}/decision", response_model=EditOut)
def decide(edit_id: int, body: DecisionIn, session: DbSession, user: User = scoped("write")):
    edit = service.decide_edit(session, edit_id=edit_id, user=user, decision=body.decision,
                               replacement=body.replacement, comment=body.comment, seen_status=body.seen_status)
    session.flush()
    return edit


@router.post("/runs/{run_id}/decide-all", response_model=DecideAllOut)
def decide_all(run_id: int, body: DecideAllIn, session: DbSession, user: User = scoped("write")):
    edits = service.decide_all(session, run_id=run_id, user=user, decision=body.decision)
    session.flush()
    return DecideAllOut(decided=len(edits), edits=edits)


@router.post("/runs/{run_id}/decide-filtered", response_model=DecideAllOut)
def decide_filtered(run_id: int, body: DecideFilteredIn, session: DbSession, user: User = scoped("write")):
    """Accept or reject the edits that match the filter (the edit list's "accept / reject these")."""
    edit_filter = window.EditFilter.parse(intents=body.intents, statuses=body.statuses,
                                          min_confidence=body.min_confidence, max_confidence=body.max_confidence)
    edits = service.decide_filtered(session, run_id=run_id, user=user, decision=body.decision,
                                    edit_filter=edit_filter)
    session.flush()
    return DecideAllOut(decided=len(edits), edits=edits)


@router.get("/runs/{run_id}/edits", response_model=EditPageOut)
def list_edits(run_id: int, session: DbSession, user: User = scoped("read"),
               intent: Annotated[list[Intent], Query(max_length=6)] = (),
               status: Annotated[list[Status], Query(max_length=4)] = (),
               min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
               max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
               limit: Annotated[int, Query(ge=1, le=500)] = 100):
    """A run's edits in text order, filtered, a page at a time."""
    view = window.run_view(session, run_id=run_id, user=user)
    edit_filter = window.EditFilter.parse(intents=intent, statuses=status, min_confidence=min_confidence,
                                          max_confidence=max_confidence)
    page = window.list_window(session, run=view.run, text=view.version.text, bounds=view.bounds,
                              edit_filter=edit_filter, offset=offset, limit=limit)
    return EditPageOut(total=page.total, offset=page.offset, next_offset=page.next_offset,
                       edits=[line.edit for line in page.lines])


@router.post("/runs/{run_id}/apply", response_model=AppliedOut, status_code=201)
def apply(run_id: int, session: DbSession, user: User = scoped("write")):
    version = service.apply_run(session, run_id=run_id, user=user)
    return AppliedOut(version_id=version.id, depth=version.depth, number=version.number,
                      stop_reason=version.document.stop_reason)
