"""HTML routes for the writer: new document, the document page with its review, history and diffs."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from app.accounts import access
from app.accounts.deps import CurrentUser, DbSession
from app.config import get_settings
from app.documents import service
from app.edits import service as edits_service
from app.errors import Invalid, NotFound
from app.web import is_htmx, render

router = APIRouter(include_in_schema=False)


def review_context(review: service.Review) -> dict:
    """The template context shared by the page and its fragments."""
    return {"r": review, "document": review.document, "run": review.run, "counts": review.counts,
            "can_write": review.can_write, "decidable": review.state == "review"}


def show_review(request: Request, session, user, document_id: int, *, block: str | None = None,
                status_code: int = 200, headers: dict | None = None):
    review = service.review(session, document_id=document_id, user=user)
    if review.state == "review":
        edits_service.record_exposure(session, run=review.run, edit_ids_in_order=[e.id for e in review.edits],
                                      user=user, surface="document" if block is None else "document:" + block)
    ctx = review_context(review)
    if block is not None and is_htmx(request):
        return render(request, "edits/review.html", ctx, block=block, status_code=status_code, headers=headers)
    return render(request, "documents/show.html", ctx, status_code=status_code, headers=headers)


def navigate(request: Request, target: str):
    """After a POST: htmx navigates client-side (an XHR would follow a 303 silently), browsers redirect."""
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Location": target})
    return RedirectResponse(target, status_code=303)


def back_to(document_id: int, anchor: str = ""):
    return RedirectResponse(f"/documents/{document_id}{anchor}", status_code=303)


@router.get("/projects/{project_id}/documents/new")
def new_document(request: Request, session: DbSession, user: CurrentUser, project_id: int):
    project, _role = access.require_project(session, user, project_id, roles=("writer", "admin"))
    return render(request, "documents/new.html", {"project": project, "limit": get_settings().max_upload_bytes})


@router.post("/projects/{project_id}/documents")
def create_document(request: Request, session: DbSession, user: CurrentUser, project_id: int,
                    title: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "",
                    file: Annotated[UploadFile | None, File()] = None):
    project, _role = access.require_project(session, user, project_id, roles=("writer", "admin"))
    limit = get_settings().max_upload_bytes
    pasted = text
    try:
        if file is not None and file.filename:
            if text.strip():
                raise Invalid("Paste the text or upload a file, not both.")
            data = file.file.read(limit + 1)  # never more than the limit in memory
            text = service.upload_text(file.filename, data)
        document = service.create_document(session, project_id=project.id, title=title, text=text, actor=user)
    except Invalid as exc:
        # The form comes back with what was pasted, never with an uploaded file's text.
        return render(request, "documents/new.html",
                      {"project": project, "limit": limit, "error": exc.message, "title": title, "text": pasted},
                      block="new_form", status_code=422)
    return navigate(request, f"/documents/{document.id}")


@router.get("/documents/{document_id}")
def show_document(request: Request, session: DbSession, user: CurrentUser, document_id: int):
    return show_review(request, session, user, document_id)


@router.get("/documents/{document_id}/progress")
def document_progress(request: Request, session: DbSession, user: CurrentUser, document_id: int):
    """The review block: polls itself while a run works, then shows the run's edits."""
    if not is_htmx(request):
        access.require_document(session, user, document_id)
        return back_to(document_id)
    return show_review(request, session, user, document_id, block="review")


def _review_or_back(request: Request, session, user, document_id: int):
    """After an action: the refreshed review block for htmx, a redirect to the page otherwise."""
    if not is_htmx(request):
        return back_to(document_id)
    return show_review(request, session, user, document_id, block="review")


@router.post("/documents/{document_id}/revise")
def revise(request: Request, session: DbSession, user: CurrentUser, document_id: int,
           feedback: Annotated[str, Form()] = "", save_as: Annotated[str, Form()] = ""):
    service.revise_again(session, document_id=document_id, user=user, feedback=feedback, save_as=save_as or None)
    session.flush()
    return _review_or_back(request, session, user, document_id)


@router.post("/documents/{document_id}/auto-repeat")
def auto_repeat(request: Request, session: DbSession, user: CurrentUser, document_id: int,
                enabled: Annotated[bool, Form()] = False):
    service.set_auto_repeat(session, document_id=document_id, user=user, enabled=enabled)
    return _review_or_back(request, session, user, document_id)


@router.post("/documents/{document_id}/apply")
def apply(request: Request, session: DbSession, user: CurrentUser, document_id: int,
          run_id: Annotated[int, Form()]):
    _check_run_of(session, run_id, document_id)
    edits_service.apply_run(session, run_id=run_id, user=user)
    session.flush()
    return _review_or_back(request, session, user, document_id)


@router.post("/documents/{document_id}/decide-all")
def decide_all(request: Request, session: DbSession, user: CurrentUser, document_id: int,
               run_id: Annotated[int, Form()], decision: Annotated[str, Form()]):
    _check_run_of(session, run_id, document_id)
    edits_service.decide_all(session, run_id=run_id, user=user, decision=decision)
    session.flush()
    return _review_or_back(request, session, user, document_id)


def _check_run_of(session, run_id: int, document_id: int) -> None:
    from app.models import Run

    run = session.get(Run, run_id)
    if run is None or run.document_id != document_id:
        raise NotFound("No such run for this document.")


@router.get("/documents/{document_id}/versions")
def versions(request: Request, session: DbSession, user: CurrentUser, document_id: int):
    document, items = service.list_versions(session, document_id=document_id, user=user)
    _doc, role = access.require_document(session, user, document_id)
    can_write = document.owner_id == user.id or role == "admin"
    return render(request, "documents/versions.html",
                  {"document": document, "versions": items, "can_write": can_write})


@router.get("/documents/{document_id}/diff")
def diff(request: Request, session: DbSession, user: CurrentUser, document_id: int, a: int, b: int):
    access.require_document(session, user, document_id)
    va = service.get_version(session, version_id=a, user=user)
    vb = service.get_version(session, version_id=b, user=user)
    if va.document_id != document_id or vb.document_id != document_id:
        raise NotFound("No such version of this document.")
    result = service.diff_versions(va.text, vb.text, a_label=f"version {va.number}", b_label=f"version {vb.number}")
    return render(request, "documents/diff.html", {"document": va.document, "a": va, "b": vb, "diff": result})


@router.post("/versions/{version_id}/restore")
def restore(request: Request, session: DbSession, user: CurrentUser, version_id: int):
    version = service.restore_version(session, version_id=version_id, user=user)
    return navigate(request, f"/documents/{version.document_id}")
