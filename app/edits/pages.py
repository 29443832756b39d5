"""HTML routes for deciding on edits (each answers with the changed row plus out-of-band updates)
and for the review page's windows: the next page of the edit list, a section of the text, the
list under new filters, and accept / reject the filtered set."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse

from app.accounts.deps import CurrentUser, DbSession
from app.admission import HEAVY
from app.edits import service, window
from app.web import is_htmx, render

router = APIRouter(include_in_schema=False)

ROW_BLOCKS = ["edit_row", "edit_mark", "counters", "apply_bar"]
FilterValues = Annotated[list[str], Query(max_length=6)]


def _answer(request: Request, session, user, edit, section: int | None = None):
    run = edit.run
    if not is_htmx(request):
        return RedirectResponse(f"/documents/{run.document_id}#edit-{edit.id}", status_code=303)
    if run.applied_version_id is not None:
        # The project applies runs automatically: the whole review changed, not one row.
        from app.documents.pages import show_review

        return show_review(request, session, user, run.document_id, block="review",
                           headers={"HX-Retarget": "#review", "HX-Reswap": "outerHTML"})
    counts = service.run_counts(session, run_id=run.id)
    line = window.line_of(session, edit, section)
    return render(request, "edits/review.html",
                  {"edit": edit, "line": line, "run": run, "document": run.document, "counts": counts,
                   "oob": True, "can_write": True, "decidable": True}, block=ROW_BLOCKS)


@router.post("/edits/{edit_id}/decide")
def decide(request: Request, session: DbSession, user: CurrentUser, edit_id: int,
           decision: Annotated[str, Form()], replacement: Annotated[str | None, Form()] = None,
           comment: Annotated[str | None, Form()] = None, seen_status: Annotated[str | None, Form()] = None,
           section: Annotated[int | None, Form(ge=0, le=1_000_000)] = None):
    # The row's form always carries the replacement input; only "modify" uses it, and an empty
    # one (which arrives as None) modifies the edit into deleting the original text.
    edit = service.decide_edit(session, edit_id=edit_id, user=user, decision=decision,
                               replacement=(replacement or "") if decision == "modify" else None,
                               comment=comment.strip() if comment else None, seen_status=seen_status)
    session.flush()
    return _answer(request, session, user, edit, section)


@router.post("/edits/{edit_id}/comment")
def comment(request: Request, session: DbSession, user: CurrentUser, edit_id: int,
            comment: Annotated[str, Form()] = "", section: Annotated[int | None, Form(ge=0, le=1_000_000)] = None):
    edit = service.comment_edit(session, edit_id=edit_id, user=user, comment=comment)
    session.flush()
    return _answer(request, session, user, edit, section)


def _filter(intent, status, min_confidence, max_confidence) -> window.EditFilter:
    return window.EditFilter.parse(intents=intent, statuses=status, min_confidence=min_confidence,
                                   max_confidence=max_confidence)


def _window_context(view: window.RunView, listing: window.ListWindow) -> dict:
    return {"run": view.run, "document": view.document, "listing": listing, "can_write": view.can_write,
            "decidable": view.decidable}


def _list(request, session, user, run_id, block, *, offset, edit_filter):
    view = window.run_view(session, run_id=run_id, user=user)
    if not is_htmx(request):
        return RedirectResponse(f"/documents/{view.document.id}", status_code=303)
    listing = window.list_window(session, run=view.run, text=view.version.text, bounds=view.bounds,
                                 edit_filter=edit_filter, offset=offset)
    response = render(request, "edits/review.html", _window_context(view, listing), block=block)
    if view.decidable:  # after drawing, as in documents.pages.show_review
        service.record_exposure(session, run=view.run, edit_ids_in_order=[line.edit.id for line in listing.lines],
                                user=user, surface=f"document:{block}")
    return response


@router.get("/runs/{run_id}/review/edits")
def list_rows(request: Request, session: DbSession, user: CurrentUser, run_id: int,
              offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0, intent: FilterValues = (),
              status: FilterValues = (), min_confidence: str = "", max_confidence: str = ""):
    """The next page of the edit list (the list's last row fetches it when it comes into view)."""
    return _list(request, session, user, run_id, "edit_rows", offset=offset,
                 edit_filter=_filter(intent, status, min_confidence, max_confidence))


@router.get("/runs/{run_id}/review/list")
def list_panel(request: Request, session: DbSession, user: CurrentUser, run_id: int,
               intent: FilterValues = (), status: FilterValues = (), min_confidence: str = "",
               max_confidence: str = ""):
    """The edit list under new filters (from its first page)."""
    return _list(request, session, user, run_id, "edit_list_panel", offset=0,
                 edit_filter=_filter(intent, status, min_confidence, max_confidence))


@router.get("/runs/{run_id}/review/sections/{index}")
def section(request: Request, session: DbSession, user: CurrentUser, run_id: int,
            index: Annotated[int, Path(ge=0, le=1_000_000)]):
    """One section of the text with its edits inline."""
    from app.documents.service import inline_pieces

    view = window.run_view(session, run_id=run_id, user=user)
    if not is_htmx(request):
        return RedirectResponse(f"/documents/{view.document.id}", status_code=303)
    index = min(index, len(view.bounds) - 1)
    start, end = view.bounds[index]
    edits = window.section_edits(session, run_id=view.run.id, start=start, end=end)
    part = window.Section(index=index, start=start, end=end,
                          pieces=inline_pieces(view.version.text, edits, start=start, end=end))
    return render(request, "edits/review.html", {"run": view.run, "document": view.document, "section": part},
                  block="doc_section")


@router.post("/runs/{run_id}/decide-filtered", dependencies=[HEAVY])
def decide_filtered(request: Request, session: DbSession, user: CurrentUser, run_id: int,
                    decision: Annotated[str, Form()], intent: Annotated[list[str], Form(max_length=6)] = (),
                    status: Annotated[list[str], Form(max_length=4)] = (),
                    min_confidence: Annotated[str, Form()] = "", max_confidence: Annotated[str, Form()] = ""):
    """Accept or reject the filtered set in one action; the review comes back under the same filters."""
    from app.documents import service as documents
    from app.documents.pages import review_context

    edit_filter = _filter(intent, status, min_confidence, max_confidence)
    view = window.run_view(session, run_id=run_id, user=user)
    service.decide_filtered(session, run_id=run_id, user=user, decision=decision, edit_filter=edit_filter)
    session.flush()
    if not is_htmx(request):
        return RedirectResponse(f"/documents/{view.document.id}", status_code=303)
    review = documents.review(session, document_id=view.document.id, user=user, edit_filter=edit_filter)
    if review.state == "review":
        service.record_exposure(session, run=review.run, edit_ids_in_order=[e.id for e in review.edits],
                                user=user, surface="document:filtered")
    return render(request, "edits/review.html", review_context(review), block="review")
