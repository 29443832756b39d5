"""HTML routes for the writer: new document, the document page with its review, history and diffs."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from app.accounts import access
from app.accounts.deps import CurrentUser, DbSession
from app.admission import HEAVY
from app.config import get_settings
from app.documents import diffing, service
from app.edits import service as edits_service
from app.errors import Invalid, NotFound
from app.flows import writer as writer_flow
from app.web import is_htmx, render

router = APIRouter(include_in_schema=False)


# Critiques drawn at once beside the text; the rest load as the writer scrolls the list.
CRITIQUES_PAGE = 25


def review_context(review: service.Review) -> dict:
    """The template context shared by the page and its fragments."""
    return {"r": review, "document": review.document, "run": review.run, "counts": review.counts,
            "can_write": review.can_write, "decidable": review.state == "review"}


def show_review(request: Request, session, user, document_id: int, *, block: str | None = None,
                status_code: int = 200, headers: dict | None = None):
    review = service.review(session, document_id=document_id, user=user)
    ctx = review_context(review)
    if block is not None and is_htmx(request):
        response = render(request, "edits/review.html", ctx, block=block, status_code=status_code, headers=headers)
    else:
        ctx["critiques"] = service.writer_critiques(session, document=review.document, version=review.version)
        ctx["critiques_page"] = CRITIQUES_PAGE
        ctx["pending_feedback"] = service.unused_feedback(session, document_id=review.document.id)
        response = render(request, "documents/show.html", ctx, status_code=status_code, headers=headers)
    if review.state == "review":
        # Written once the page is drawn: on SQLite a write holds the file's write lock until the
        # request commits, and drawing a long document's page should not hold it.
        edits_service.record_exposure(session, run=review.run, edit_ids_in_order=[e.id for e in review.edits],
                                      user=user, surface="document" if block is None else "document:" + block)
    return response


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


@router.post("/projects/{project_id}/documents", dependencies=[HEAVY])
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


@router.get("/documents/{document_id}", dependencies=[HEAVY])
def show_document(request: Request, session: DbSession, user: CurrentUser, document_id: int):
    return show_review(request, session, user, document_id)


@router.get("/documents/{document_id}/progress")
def document_progress(request: Request, session: DbSession, user: CurrentUser, document_id: int):
    """The review block's poll: the run's progress while it works (small, no text), then the
    whole review block in place of the old one."""
    active = service.active_run_progress(session, document_id=document_id, user=user)
    if not is_htmx(request):
        return back_to(document_id)
    if active is not None:
        run, progress = active
        return render(request, "edits/review.html", {"run": run, "progress": progress}, block="run_progress")
    return show_review(request, session, user, document_id, block="review",
                       headers={"HX-Retarget": "#review", "HX-Reswap": "outerHTML"})


def _review_or_back(request: Request, session, user, document_id: int):
    """After an action: the refreshed review block for htmx, a redirect to the page otherwise."""
    if not is_htmx(request):
        return back_to(document_id)
    return show_review(request, session, user, document_id, block="review")


@router.post("/documents/{document_id}/revise")
def revise(request: Request, session: DbSession, user: CurrentUser, document_id: int,
           feedback: Annotated[str, Form()] = "", save_as: Annotated[str, Form()] = "",
           override: Annotated[bool, Form()] = False):
    service.revise_again(session, document_id=document_id, user=user, feedback=feedback, save_as=save_as or None,
                         override=override)
    session.flush()
    return _review_or_back(request, session, user, document_id)


@router.post("/documents/{document_id}/auto-repeat")
def auto_repeat(request: Request, session: DbSession, user: CurrentUser, document_id: int,
                enabled: Annotated[bool, Form()] = False):
    service.set_auto_repeat(session, document_id=document_id, user=user, enabled=enabled)
    return _review_or_back(request, session, user, document_id)


@router.post("/documents/{document_id}/apply", dependencies=[HEAVY])
def apply(request: Request, session: DbSession, user: CurrentUser, document_id: int,
          run_id: Annotated[int, Form()]):
    _check_run_of(session, run_id, document_id)
    edits_service.apply_run(session, run_id=run_id, user=user)
    session.flush()
    return _review_or_back(request, session, user, document_id)


@router.post("/documents/{document_id}/decide-all", dependencies=[HEAVY])
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


# A window of the inline diff holds about this many characters of text; the next loads as the
# reader scrolls to it, so a page stays small whatever the document's size.
DIFF_WINDOW_CHARS = 40_000
# Up to this size the unified diff is part of the page; beyond, it is a plain-text download.
INLINE_UNIFIED_CHARS = 40_000


def _two_versions(session, user, document_id: int, a: int, b: int):
    access.require_document(session, user, document_id)
    va = service.get_version(session, version_id=a, user=user)
    vb = service.get_version(session, version_id=b, user=user)
    if va.document_id != document_id or vb.document_id != document_id:
        raise NotFound("No such version of this document.")
    return va, vb


def _diff_context(va, vb, at: int) -> dict:
    result = service.version_diff(va, vb)
    end, next_at = diffing.window(result.ops, at, DIFF_WINDOW_CHARS)
    return {"document": va.document, "a": va, "b": vb, "diff": result, "ops": result.ops[at:end], "next_at": next_at}


@router.get("/documents/{document_id}/diff", dependencies=[HEAVY])
def diff(request: Request, session: DbSession, user: CurrentUser, document_id: int, a: int, b: int):
    va, vb = _two_versions(session, user, document_id, a, b)
    context = _diff_context(va, vb, 0)
    context["inline_unified"] = sum(len(line) + 1 for line in context["diff"].unified) <= INLINE_UNIFIED_CHARS
    return render(request, "documents/diff.html", context)


@router.get("/documents/{document_id}/diff/window", dependencies=[HEAVY])
def diff_window(request: Request, session: DbSession, user: CurrentUser, document_id: int, a: int, b: int,
                at: Annotated[int, Query(ge=0)] = 0):
    """The inline diff from op `at` on, about one window's worth (htmx loads it when revealed)."""
    va, vb = _two_versions(session, user, document_id, a, b)
    return render(request, "documents/_diff_window.html", _diff_context(va, vb, at))


@router.get("/documents/{document_id}/diff.txt", dependencies=[HEAVY])
def diff_text(session: DbSession, user: CurrentUser, document_id: int, a: int, b: int):
    """The unified diff as plain text."""
    va, vb = _two_versions(session, user, document_id, a, b)
    body = "\n".join(service.version_diff(va, vb).unified)
    name = f"document-{document_id}-v{va.number}-v{vb.number}.diff"
    return PlainTextResponse(body + ("\n" if body else ""),
                             headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.post("/versions/{version_id}/restore")
def restore(request: Request, session: DbSession, user: CurrentUser, version_id: int):
    version = service.restore_version(session, version_id=version_id, user=user)
    return navigate(request, f"/documents/{version.document_id}")


# --- the writer's own controls: finish / reopen, edit by hand, read, download, critiques ----------

@router.post("/documents/{document_id}/finish")
def finish(request: Request, session: DbSession, user: CurrentUser, document_id: int):
    service.finish_document(session, document_id=document_id, user=user)
    return _review_or_back(request, session, user, document_id)


@router.post("/documents/{document_id}/reopen")
def reopen(request: Request, session: DbSession, user: CurrentUser, document_id: int):
    service.reopen_document(session, document_id=document_id, user=user)
    return _review_or_back(request, session, user, document_id)


PARAGRAPHS_PER_PAGE = 100


def _write_context(session, user, document_id: int, *, page: int = 1, open_index: int | None = None,
                   saved_version_id: int | None = None) -> dict:
    document, _role = access.require_document(session, user, document_id, write=True)
    version = document.current_version
    spans = writer_flow.paragraphs(version.text)
    pages = max(1, -(-len(spans) // PARAGRAPHS_PER_PAGE))
    page = min(max(1, page), pages)
    first = (page - 1) * PARAGRAPHS_PER_PAGE
    window = spans[first:first + PARAGRAPHS_PER_PAGE]
    pending = writer_flow.pending_by_paragraph(session, version=version, spans=window)
    paragraphs = [{"index": first + i, "start": a, "end": b, "text": version.text[a:b], "pending": pending[i]}
                  for i, (a, b) in enumerate(window)]
    return {"document": document, "version": version, "paragraphs": paragraphs, "page": page, "pages": pages,
            "open_index": open_index, "can_write": True,
            "saved": writer_flow.summary(session, version_id=saved_version_id) if saved_version_id else None,
            "finished": document.stop_reason == "finished"}


@router.get("/documents/{document_id}/write", dependencies=[HEAVY])
def write_page(request: Request, session: DbSession, user: CurrentUser, document_id: int, page: int = 1,
               edit: int | None = None, saved: int | None = None):
    """Edit mode: the current version paragraph by paragraph; each opens in a text box."""
    ctx = _write_context(session, user, document_id, page=page, open_index=edit, saved_version_id=saved)
    if edit is not None and is_htmx(request):
        para = next((p for p in ctx["paragraphs"] if p["index"] == edit), None)
        if para is None:
            raise NotFound("No such paragraph on this page; reload the page.")
        return render(request, "documents/write.html", {**ctx, "p": para}, block="paragraph_form")
    return render(request, "documents/write.html", ctx)


@router.get("/documents/{document_id}/write/paragraph")
def write_paragraph(request: Request, session: DbSession, user: CurrentUser, document_id: int, index: int,
                    page: int = 1, cancel: bool = False):
    """One paragraph, as text (cancel) or as its form (htmx)."""
    ctx = _write_context(session, user, document_id, page=page)
    para = next((p for p in ctx["paragraphs"] if p["index"] == index), None)
    if para is None:
        raise NotFound("No such paragraph on this page; reload the page.")
    if not is_htmx(request):
        return RedirectResponse(f"/documents/{document_id}/write?page={ctx['page']}"
                                + ("" if cancel else f"&edit={index}") + f"#p-{index}", status_code=303)
    return render(request, "documents/write.html", {**ctx, "p": para},
                  block="paragraph" if cancel else "paragraph_form")


@router.post("/documents/{document_id}/write", dependencies=[HEAVY])
def save_paragraph(request: Request, session: DbSession, user: CurrentUser, document_id: int,
                   base_version_id: Annotated[int, Form()], start: Annotated[int, Form()],
                   end: Annotated[int, Form()], text: Annotated[str, Form()] = "",
                   page: Annotated[int, Form()] = 1):
    """Save the writer's change as a new version (errors keep the text in the box: htmx shows them
    in the flash area without swapping the form)."""
    result = writer_flow.edit_by_hand(session, document_id=document_id, user=user,
                                      base_version_id=base_version_id, start=start, end=end, text=text)
    session.flush()
    target = f"/documents/{document_id}/write?page={page}&saved={result.version.id}"
    if not is_htmx(request):
        return RedirectResponse(target, status_code=303)
    ctx = _write_context(session, user, document_id, page=page, saved_version_id=result.version.id)
    return render(request, "documents/write.html", ctx, block="writer", headers={"HX-Push-Url": target})


@router.get("/documents/{document_id}/read", dependencies=[HEAVY])
def read(request: Request, session: DbSession, user: CurrentUser, document_id: int, changes: bool = False):
    view = service.read_view(session, document_id=document_id, user=user, changes=changes)
    return render(request, "documents/read.html", {"view": view, "document": view.document,
                                                   "changes": changes})


@router.get("/documents/{document_id}/download.{suffix}", dependencies=[HEAVY])
def download(session: DbSession, user: CurrentUser, document_id: int, suffix: str):
    if suffix not in ("txt", "md"):
        raise NotFound("Download as .txt or .md.")
    view = service.read_view(session, document_id=document_id, user=user)
    media = "text/markdown" if suffix == "md" else "text/plain"
    name = service.download_name(view.document, suffix)
    return PlainTextResponse(view.version.text, media_type=f"{media}; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _critiques_answer(request: Request, session, user, document_id: int):
    if not is_htmx(request):
        return back_to(document_id, "#critiques")
    return render_critiques(request, session, user, document_id)


def render_critiques(request: Request, session, user, document_id: int, *, offset: int = 0):
    document, role = access.require_document(session, user, document_id)
    critiques = service.writer_critiques(session, document=document, version=document.current_version)
    can_write = document.owner_id == user.id or role == "admin"
    context = {"document": document, "critiques": critiques, "can_write": can_write,
               "critiques_page": CRITIQUES_PAGE, "critique_offset": offset}
    if offset:
        return render(request, "documents/show.html", context, block="critique_rows")
    context["pending_feedback"] = service.unused_feedback(session, document_id=document.id)
    return render(request, "documents/show.html", context, block="critiques")


@router.get("/documents/{document_id}/critiques")
def critiques(request: Request, session: DbSession, user: CurrentUser, document_id: int):
    if not is_htmx(request):
        return back_to(document_id, "#critiques")
    return render_critiques(request, session, user, document_id)


@router.get("/documents/{document_id}/critiques/more")
def more_critiques(request: Request, session: DbSession, user: CurrentUser, document_id: int,
                   offset: Annotated[int, Query(ge=1, le=10_000_000)]):
    if not is_htmx(request):
        return back_to(document_id, "#critiques")
    return render_critiques(request, session, user, document_id, offset=offset)


@router.post("/critiques/{critique_id}/address")
def address_critique(request: Request, session: DbSession, user: CurrentUser, critique_id: int,
                     note: Annotated[str, Form()] = ""):
    feedback = service.address_critique(session, critique_id=critique_id, user=user, note=note)
    session.flush()
    return _critiques_answer(request, session, user, feedback.document_id)


@router.post("/critiques/{critique_id}/dismiss")
def dismiss_critique(request: Request, session: DbSession, user: CurrentUser, critique_id: int):
    critique = service.dismiss_critique(session, critique_id=critique_id, user=user)
    session.flush()
    from app.models import Run

    return _critiques_answer(request, session, user, session.get(Run, critique.run_id).document_id)
