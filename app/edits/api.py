"""JSON routes for decisions on edits and applying runs (the same services as the pages)."""
from __future__ import annotations

from fastapi import APIRouter

from app.accounts.deps import DbSession, scoped
from app.edits import service
from app.edits.schemas import AppliedOut, DecideAllIn, DecideAllOut, DecisionIn, EditOut
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


@router.post("/runs/{run_id}/apply", response_model=AppliedOut, status_code=201)
def apply(run_id: int, session: DbSession, user: User = scoped("write")):
    version = service.apply_run(session, run_id=run_id, user=user)
    return AppliedOut(version_id=version.id, depth=version.depth, number=version.number,
                      stop_reason=version.document.stop_reason)
