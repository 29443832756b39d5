"""HTML routes for deciding on one edit: each answers with the changed row plus out-of-band updates."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from app.accounts.deps import CurrentUser, DbSession
from app.edits import service
from app.web import is_htmx, render

router = APIRouter(include_in_schema=False)

ROW_BLOCKS = ["edit_row", "edit_mark", "counters", "apply_bar"]


def _answer(request: Request, session, user, edit):
    run = edit.run
    if not is_htmx(request):
        return RedirectResponse(f"/documents/{run.document_id}#edit-{edit.id}", status_code=303)
    if run.applied_version_id is not None:
        # The project applies runs automatically: the whole review changed, not one row.
        from app.documents.pages import show_review

        return show_review(request, session, user, run.document_id, block="review",
                           headers={"HX-Retarget": "#review", "HX-Reswap": "outerHTML"})
    counts = service.run_counts(session, run_id=run.id)
    return render(request, "edits/review.html",
                  {"edit": edit, "run": run, "document": run.document, "counts": counts, "oob": True,
                   "can_write": True, "decidable": True}, block=ROW_BLOCKS)


@router.post("/edits/{edit_id}/decide")
def decide(request: Request, session: DbSession, user: CurrentUser, edit_id: int,
           decision: Annotated[str, Form()], replacement: Annotated[str | None, Form()] = None,
           comment: Annotated[str | None, Form()] = None, seen_status: Annotated[str | None, Form()] = None):
    # The row's form always carries the replacement input; only "modify" uses it, and an empty
    # one (which arrives as None) modifies the edit into deleting the original text.
    edit = service.decide_edit(session, edit_id=edit_id, user=user, decision=decision,
                               replacement=(replacement or "") if decision == "modify" else None,
                               comment=comment.strip() if comment else None, seen_status=seen_status)
    session.flush()
    return _answer(request, session, user, edit)


@router.post("/edits/{edit_id}/comment")
def comment(request: Request, session: DbSession, user: CurrentUser, edit_id: int,
            comment: Annotated[str, Form()] = ""):
    edit = service.comment_edit(session, edit_id=edit_id, user=user, comment=comment)
    session.flush()
    return _answer(request, session, user, edit)
