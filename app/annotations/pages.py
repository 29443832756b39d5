"""HTML routes of the annotator workbench: run trace, labels, segments, correct-and-rerun,
queues, agreement and pairwise comparison. Thin: parse, call the services, render."""
from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.accounts import access
from app.accounts.deps import CurrentUser, DbSession
from app.admission import HEAVY
from app.annotations import agreement, comparisons, corrections, keys, notes, queues, service
from app.annotations import context as highlights
from app.bounds import DbId
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import QueueItem, Run, Stage
from app.web import is_htmx, render, templates

router = APIRouter(include_in_schema=False)

ACTIVE = ("queued", "running")


def _go(request: Request, url: str) -> Response:
    """Navigate after a form: htmx follows HX-Redirect (URL bar updated), plain forms a 303."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _local(url: str | None, fallback: str) -> str:
    return url if url and url.startswith("/") and not url.startswith("//") else fallback


def _label(value: str) -> int | None:
    value = (value or "").strip()
    if value in ("", "none"):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise Invalid("A label is +1, 0 or −1.") from exc


# --- trace --------------------------------------------------------------------------------

def _trace_context(session, user, run_id: int, queue_item: QueueItem | None = None) -> dict:
    trace = service.run_trace(session, run_id=run_id, user=user)
    # The correction editors load when opened (GET /stages/{id}/correction): a stage with many
    # rows must not weigh on every trace page. "editors" holds one only to answer a post.
    return {"trace": trace, "run": trace.run, "document": trace.document, "active": trace.run.status in ACTIVE,
            "stage_json": {s.id: service.stage_output_json(s) for s in trace.stages},
            "editors": {}, "contexts": highlights.stage_contexts(trace),
            "queue_item_id": queue_item.id if queue_item else None, "keys": keys.effective(user)}


@router.get("/runs/{run_id}/trace", dependencies=[HEAVY])
def trace_page(request: Request, run_id: int, session: DbSession, user: CurrentUser):
    return render(request, "annotations/trace.html", _trace_context(session, user, run_id), block="trace_body")


@router.post("/annotations")
def save_label(request: Request, session: DbSession, user: CurrentUser,
               target_kind: Annotated[str, Form()], target_id: Annotated[int, Form()],
               step: Annotated[int, Form()] = 0, label: Annotated[str, Form()] = "",
               comment: Annotated[str, Form()] = "", correction: Annotated[str, Form()] = "",
               queue_item_id: Annotated[str, Form()] = "", stop: Annotated[str, Form()] = "",
               next: Annotated[str, Form()] = ""):
    item_id = int(queue_item_id) if queue_item_id.strip() else None
    annotation = service.save_annotation(
        session, user=user, target_kind=target_kind, target_id=target_id, step=step, label=_label(label),
        comment=comment, correction=correction or None, queue_item_id=item_id, stop_at_first_error=bool(stop))
    if not is_htmx(request):
        return RedirectResponse(_local(next, "/queues"), status_code=303)
    if target_kind == "segment" and stop:
        # Stop at first error: a −1 changes which later steps are asked, so the whole list changes.
        ctx = _steps_context(session, user, target_id, stop=True, queue_item_id=item_id, next_url=next)
        return render(request, "annotations/steps.html", ctx, block="steps",
                      headers={"HX-Retarget": "#steps", "HX-Reswap": "outerHTML"})
    return render(request, "annotations/_label.html", {
        "kind": annotation.target_kind, "tid": annotation.target_id, "step": annotation.step, "ann": annotation,
        "qid": item_id, "stop": stop, "next_url": next, "others": [], "can_annotate": True, "saved": True,
        "keys": keys.effective(user)})


async def _editor_form(request: Request):
    # A correction with many rows has more fields than Starlette's default limit (1,000).
    return await request.form(max_fields=corrections.MAX_ROWS * 10, max_files=0)


def _editor_state(stage: Stage, form) -> corrections.EditorState:
    """The editor as submitted: rows (as typed) or the raw JSON, with the active tab. A plain
    post with only parsed_output (the raw JSON) is the Advanced tab."""
    mode = form.get("mode") or ("rows" if any(k.startswith("row-") for k in form) else "json")
    if mode not in ("rows", "json"):
        raise Invalid("The editor's tab is rows or json.")
    rows = corrections.rows_from_form(stage.name, form) if mode == "rows" else []
    return corrections.EditorState(stage_name=stage.name, rows=rows, json_text=str(form.get("parsed_output") or ""),
                                   mode=mode, comment=str(form.get("comment") or ""), open=True)


def _editor(request: Request, session, user, stage: Stage, state: corrections.EditorState, status_code: int = 200):
    """The correction editor as it was submitted: the fragment for htmx, else the whole trace."""
    if is_htmx(request):
        return render(request, "annotations/_correction_rows.html",
                      {"stage": stage, "editor": state}, status_code=status_code)
    ctx = _trace_context(session, user, stage.run_id)
    ctx["editors"][stage.id] = state
    return render(request, "annotations/trace.html", ctx, status_code=status_code)


def _correctable(session, user, stage_id: int) -> Stage:
    stage = session.get(Stage, stage_id)
    if stage is None:
        raise NotFound("No such stage.")
    service.require_run(session, user, stage.run_id, annotate=True)
    return stage


@router.get("/stages/{stage_id}/correction")
def correction_editor(request: Request, stage_id: int, session: DbSession, user: CurrentUser):
    """The stage's correction editor, open, with its output as rows (the trace loads it when the
    person opens "Correct this output"; without htmx, the trace with the editor open)."""
    stage = _correctable(session, user, stage_id)
    if stage.status != "succeeded":
        raise Invalid("Only a stage that succeeded can be corrected.")
    state = corrections.initial_state(stage)
    state.open, state.focus = True, "tab-rows"
    return _editor(request, session, user, stage, state)


@router.post("/stages/{stage_id}/correction")
def correct_stage(request: Request, stage_id: int, session: DbSession, user: CurrentUser,
                  form=Depends(_editor_form)):
    """The row editor's actions (add, remove, move a row, switch tabs: op) and its save; a
    refused save answers the editor with every typed value and the problems beside their rows."""
    stage = _correctable(session, user, stage_id)
    state = _editor_state(stage, form)
    op = str(form.get("op") or "")
    if op:
        try:
            corrections.apply_op(state, op)
        except Invalid as exc:
            state.message = exc.message
        return _editor(request, session, user, stage, state)
    value = state.json_text if state.mode == "json" else corrections.value_from_rows(stage.name, state.rows)
    try:
        with session.begin_nested():  # a refused correction leaves nothing behind
            result = service.correct_stage(session, stage_id=stage_id, user=user, parsed_output=value,
                                           comment=state.comment)
    except corrections.CorrectionInvalid as exc:
        state.problems = exc.problems
        state.message = exc.message
        first = next(iter(sorted(exc.problems.rows.items())), None)
        if state.mode == "rows" and first is not None:
            state.focus = f"row-{first[0]}-{first[1][0][0] or corrections.row_schema(stage.name).fields[0].name}"
        else:
            state.focus = "message"
        return _editor(request, session, user, stage, state, status_code=exc.status_code)
    except (Invalid, Conflict) as exc:
        state.message, state.focus = exc.message, "message"
        return _editor(request, session, user, stage, state, status_code=exc.status_code)
    return _go(request, f"/runs/{result.run.id}/trace")


# --- segments -----------------------------------------------------------------------------

def _steps_context(session, user, version_id: int, *, stop: bool, queue_item_id: int | None = None,
                   next_url: str = "") -> dict:
    view = service.version_steps(session, version_id=version_id, user=user, stop_at_first_error=stop)
    return {"view": view, "version": view.version, "document": view.document, "stop": stop,
            "queue_item_id": queue_item_id, "next_url": next_url or f"/versions/{version_id}/steps",
            "keys": keys.effective(user)}


@router.get("/versions/{version_id}/steps")
def steps_page(request: Request, version_id: int, session: DbSession, user: CurrentUser, stop: bool = False):
    return render(request, "annotations/steps.html", _steps_context(session, user, version_id, stop=stop))


# --- queues -------------------------------------------------------------------------------

def _admin_projects(session, user):
    from app.accounts import service as accounts

    return [p for p, role in accounts.user_projects(session, user) if role == "admin"]


def _queues_context(session, user, project_id: int | None, *, form: dict | None = None,
                    message: str | None = None) -> dict:
    rows = [(q, assigned, queues.progress(session, queue=q)) for q, assigned in queues.visible_queues(session, user)]
    projects = _admin_projects(session, user)
    chosen = next((p for p in projects if p.id == project_id), projects[0] if projects else None)
    candidates = queues.project_annotators(session, chosen.id) if chosen else []
    return {"rows": rows, "projects": projects, "chosen": chosen, "candidates": candidates,
            "form": form or {}, "message": message}


@router.get("/queues")
def queue_list(request: Request, session: DbSession, user: CurrentUser, project_id: int | None = None):
    return render(request, "annotations/queues.html", _queues_context(session, user, project_id))


@router.post("/queues")
def queue_create(request: Request, session: DbSession, user: CurrentUser,
                 project_id: Annotated[int, Form()], name: Annotated[str, Form()] = "",
                 item_kind: Annotated[str, Form()] = "run", overlap: Annotated[str, Form()] = "1",
                 claim_timeout_minutes: Annotated[str, Form()] = "30", blind: Annotated[str, Form()] = "",
                 model: Annotated[str, Form()] = "", date_from: Annotated[str, Form()] = "",
                 date_to: Annotated[str, Form()] = "", depth: Annotated[str, Form()] = "",
                 instructions: Annotated[str, Form()] = "",
                 assignees: Annotated[list[int] | None, Form()] = None):
    form = {"name": name, "item_kind": item_kind, "overlap": overlap, "claim_timeout_minutes": claim_timeout_minutes,
            "blind": bool(blind), "model": model, "date_from": date_from, "date_to": date_to, "depth": depth,
            "instructions": instructions, "assignees": set(assignees or []), "submitted": True}
    try:
        try:
            filters = queues.QueueFilters(
                model=model.strip() or None,
                date_from=date.fromisoformat(date_from) if date_from else None,
                date_to=date.fromisoformat(date_to) if date_to else None,
                depth=int(depth) if depth.strip() else None)
            overlap_n, timeout_n = int(overlap), int(claim_timeout_minutes)
        except ValueError as exc:
            raise Invalid(f"Check the filters and numbers: {exc}.") from exc
        with session.begin_nested():  # a refused queue leaves nothing behind
            queue = queues.create_queue(session, project_id=project_id, user=user, name=name, item_kind=item_kind,
                                        overlap=overlap_n, claim_timeout_seconds=timeout_n * 60, blind=bool(blind),
                                        filters=filters, instructions=instructions, assignee_ids=assignees or [])
    except (Invalid, Conflict) as exc:
        ctx = _queues_context(session, user, project_id, form=form, message=exc.message)
        return render(request, "annotations/queues.html", ctx, block="new_queue", status_code=exc.status_code)
    return _go(request, f"/queues/{queue.id}")


def _queue_context(session, user, queue_id: int, message: str | None = None) -> dict:
    queue = queues.require_queue(session, user, queue_id)
    queues.release_idle_claims(session, queue=queue)
    role = access.role_in(session, user, queue.project_id)
    progress = queues.progress(session, queue=queue)
    return {
        "queue": queue, "progress": progress,
        "agreement": agreement.queue_agreement(session, queue=queue), "is_admin": role == "admin",
        "assigned": queues.is_assignee(session, queue, user),
        "candidates": queues.project_annotators(session, queue.project_id) if role == "admin" else [],
        "assignee_ids": queues.assignee_ids(session, queue), "message": message,
        "tags": notes.tag_counts(session, queue=queue)}


@router.get("/queues/{queue_id}")
def queue_page(request: Request, queue_id: int, session: DbSession, user: CurrentUser):
    return render(request, "annotations/queue.html", _queue_context(session, user, queue_id))


@router.post("/queues/{queue_id}/assignees")
def queue_assign(request: Request, queue_id: int, session: DbSession, user: CurrentUser,
                 assignees: Annotated[list[int] | None, Form()] = None):
    try:
        with session.begin_nested():
            queues.set_assignees(session, queue_id=queue_id, user=user, assignee_ids=assignees or [])
    except (Invalid, Forbidden) as exc:
        ctx = _queue_context(session, user, queue_id, message=exc.message)
        ctx["assignee_ids"] = set(assignees or [])  # what they ticked, not what is saved
        return render(request, "annotations/queue.html", ctx, block="assignees", status_code=exc.status_code)
    return _go(request, f"/queues/{queue_id}")


def _notes_context(session, user, queue_id: int, item_id: int, *, message: str | None = None,
                   form: dict | None = None) -> dict:
    item_access = notes.require_item(session, queue_id=queue_id, item_id=item_id, user=user)
    return {"notes": notes.item_notes(session, ctx=item_access, user=user), "notes_message": message,
            "notes_form": form or {}}


def _next_context(session, user, queue_id: int, *, stop: bool = False, item_id: int | None = None,
                  with_progress: bool = True) -> dict:
    """The annotator's current item (claimed now if they hold none); with item_id, that item."""
    if item_id is None:
        claim = queues.next_item(session, queue_id=queue_id, user=user)
    else:
        claim = queues.require_claim(session, queue_id=queue_id, item_id=item_id, user=user)[2]
    queue = queues.require_queue(session, user, queue_id)
    ctx: dict = {"queue": queue, "claim": claim, "item": None, "message": None, "keys": keys.effective(user),
                 "progress": queues.progress(session, queue=queue) if with_progress else None}
    if claim is not None:
        item = session.get(QueueItem, claim.item_id)
        ctx["item"] = item
        ctx["item_label"] = queues.item_label(session, item)
        ctx.update(_notes_context(session, user, queue.id, item.id))
        ctx["guidance"] = notes.guidance(session, queue=queue, item=item)
        next_url = f"/queues/{queue.id}/next"
        if item.run_id is not None:
            ctx.update(_trace_context(session, user, item.run_id, item))
        else:
            from app.models import Document

            document = session.get(Document, item.document_id)
            ctx.update(_steps_context(session, user, document.current_version_id, stop=stop,
                                      queue_item_id=item.id, next_url=next_url + ("?stop=1" if stop else "")))
    return ctx


@router.get("/queues/{queue_id}/next", dependencies=[HEAVY])
def queue_next(request: Request, queue_id: int, session: DbSession, user: CurrentUser, stop: bool = False):
    return render(request, "annotations/next.html", _next_context(session, user, queue_id, stop=stop))


@router.post("/queues/{queue_id}/prefetch", dependencies=[HEAVY])
def queue_prefetch(request: Request, queue_id: int, session: DbSession, user: CurrentUser, after: DbId):
    """The item after the current one (`after`), reserved and rendered before it is needed; the
    page keeps it and swaps it in when the current item is submitted. 204: nothing to prefetch."""
    claim = queues.prefetch_item(session, queue_id=queue_id, user=user, after_item_id=after)
    if claim is None:
        return Response(status_code=204)
    ctx = _next_context(session, user, queue_id, item_id=claim.item_id, with_progress=False)
    return templates.TemplateResponse(request, "annotations/next.html", {"user": user, **ctx},
                                      block_name="queue_work", headers={"X-Queue-Item": str(claim.item_id)})


@router.post("/queues/{queue_id}/items/{item_id}/submit")
def queue_submit(request: Request, queue_id: int, item_id: int, session: DbSession, user: CurrentUser,
                 prefetched: Annotated[str, Form()] = ""):
    # The page holds the next item already (prefetched): make it current and let the page swap it
    # in, nothing rendered on this path. If it cannot be (released and taken by others), /next.
    swap = is_htmx(request) and prefetched.strip().isdigit()
    try:
        with session.begin_nested():
            if swap:
                taken = queues.submit_and_take_up(session, queue_id=queue_id, item_id=item_id, user=user,
                                                  prefetched_item_id=int(prefetched))
            else:
                queues.submit_item(session, queue_id=queue_id, item_id=item_id, user=user)
    except (Invalid, Conflict) as exc:
        # The item as it was, with the reason beside the submit button (htmx: only that box).
        ctx = _next_context(session, user, queue_id, item_id=item_id)
        ctx["message"] = exc.message
        return render(request, "annotations/next.html", ctx, block="submit_box", status_code=exc.status_code)
    if swap and taken is not None:
        return Response(status_code=204, headers={
            "HX-Trigger": json.dumps({"emend:queue-next": {"item": taken.item_id}})})
    return _go(request, f"/queues/{queue_id}/next")


# --- tags and comments on queue items ---------------------------------------------------------

def _notes_answer(request: Request, session, user, queue_id: int, item_id: int, *, exc=None, form=None):
    """The item's tags and comments block (htmx), or back to the item (plain form)."""
    if exc is None and not is_htmx(request):
        return RedirectResponse(f"/queues/{queue_id}/next", status_code=303)
    ctx = {"queue": queues.require_queue(session, user, queue_id), "item": session.get(QueueItem, item_id),
           **_notes_context(session, user, queue_id, item_id, message=exc.message if exc else None, form=form)}
    return render(request, "annotations/next.html", ctx, block="item_notes",
                  status_code=exc.status_code if exc else 200)


@router.post("/queues/{queue_id}/items/{item_id}/tags")
def item_tag_add(request: Request, queue_id: int, item_id: int, session: DbSession, user: CurrentUser,
                 tag: Annotated[str, Form()] = ""):
    try:
        with session.begin_nested():
            notes.add_tag(session, queue_id=queue_id, item_id=item_id, user=user, tag=tag)
    except Invalid as exc:
        return _notes_answer(request, session, user, queue_id, item_id, exc=exc, form={"tag": tag})
    return _notes_answer(request, session, user, queue_id, item_id)


@router.post("/queues/{queue_id}/items/{item_id}/tags/{tag_id}/remove")
def item_tag_remove(request: Request, queue_id: int, item_id: int, tag_id: int, session: DbSession,
                    user: CurrentUser):
    notes.remove_tag(session, queue_id=queue_id, item_id=item_id, user=user, tag_id=tag_id)
    return _notes_answer(request, session, user, queue_id, item_id)


@router.post("/queues/{queue_id}/items/{item_id}/comments")
def item_comment_add(request: Request, queue_id: int, item_id: int, session: DbSession, user: CurrentUser,
                     body: Annotated[str, Form()] = ""):
    try:
        with session.begin_nested():
            notes.add_comment(session, queue_id=queue_id, item_id=item_id, user=user, body=body)
    except Invalid as exc:
        return _notes_answer(request, session, user, queue_id, item_id, exc=exc, form={"body": body})
    return _notes_answer(request, session, user, queue_id, item_id)


@router.post("/queues/{queue_id}/items/{item_id}/comments/{comment_id}/delete")
def item_comment_delete(request: Request, queue_id: int, item_id: int, comment_id: int, session: DbSession,
                        user: CurrentUser):
    try:
        with session.begin_nested():
            notes.delete_comment(session, queue_id=queue_id, item_id=item_id, user=user, comment_id=comment_id)
    except Forbidden as exc:
        return _notes_answer(request, session, user, queue_id, item_id, exc=exc)
    return _notes_answer(request, session, user, queue_id, item_id)


# --- the annotator's shortcuts -----------------------------------------------------------------

@router.get("/account/shortcuts")
def shortcuts_page(request: Request, user: CurrentUser):
    return render(request, "annotations/shortcuts.html", {"keys": keys.effective(user)})


@router.post("/account/shortcuts")
async def shortcuts_save(request: Request, session: DbSession, user: CurrentUser):
    form = await request.form()
    typed = {name: str(form.get(f"keys_{name}", "")) for name, _text, _default in keys.ACTIONS}
    advance = bool(form.get("advance"))
    wanted = {name: keys.parse_keys(value) for name, value in typed.items()}
    if form.get("reset"):
        wanted, advance = {name: list(k) for name, k in keys.DEFAULT_KEYS.items()}, True
    try:
        with session.begin_nested():
            saved = keys.save(session, user=user, keys=wanted, advance=advance)
    except Invalid as exc:
        return render(request, "annotations/shortcuts.html",
                      {"keys": keys.effective(user), "typed": typed, "typed_advance": advance,
                       "message": exc.message}, block="shortcuts_form", status_code=exc.status_code)
    return render(request, "annotations/shortcuts.html", {"keys": saved, "notice": "Shortcuts saved."},
                  block="shortcuts_form")


# --- pairwise comparison ------------------------------------------------------------------

def _compare_context(session, user, version_id: int, a: int | None, b: int | None, message: str | None = None):
    view = comparisons.compare_view(session, version_id=version_id, user=user, run_a_id=a, run_b_id=b)
    return {"view": view, "version": view.version, "document": view.version.document, "message": message,
            "active": any(r.status in ACTIVE for r in view.runs)}


@router.get("/versions/{version_id}/compare", dependencies=[HEAVY])
def compare_page(request: Request, version_id: int, session: DbSession, user: CurrentUser,
                 a: Annotated[int | None, Query()] = None, b: Annotated[int | None, Query()] = None):
    return render(request, "annotations/compare.html", _compare_context(session, user, version_id, a, b))


@router.post("/versions/{version_id}/compare")
def compare_choose(request: Request, version_id: int, session: DbSession, user: CurrentUser,
                   run_a_id: Annotated[int, Form()], run_b_id: Annotated[int, Form()],
                   choice: Annotated[str, Form()], reason: Annotated[str, Form()] = ""):
    try:
        with session.begin_nested():
            comparisons.make_comparison(session, version_id=version_id, run_a_id=run_a_id, run_b_id=run_b_id,
                                        user=user, choice=choice, reason=reason)
    except (Conflict, Invalid, Forbidden) as exc:
        ctx = _compare_context(session, user, version_id, run_a_id, run_b_id, message=exc.message)
        return render(request, "annotations/compare.html", ctx, status_code=exc.status_code)
    return _go(request, f"/versions/{version_id}/compare?a={run_a_id}&b={run_b_id}")


@router.post("/versions/{version_id}/candidate-runs")
def compare_start_run(request: Request, version_id: int, session: DbSession, user: CurrentUser,
                      model: Annotated[str, Form()] = "", variant: Annotated[str, Form()] = "",
                      against: Annotated[str, Form()] = ""):
    try:
        # Savepoint: a refused start must not leave half a run behind in this transaction.
        with session.begin_nested():
            run: Run = comparisons.start_candidate_run(session, version_id=version_id, user=user, model=model,
                                                       variant=variant)
    except (Conflict, Invalid, Forbidden) as exc:
        # start_run refuses while another run of the document is active, or on an old version:
        # say so on the page.
        ctx = _compare_context(session, user, version_id, None, None,
                               message=f"A second run could not start: {exc.message}")
        return render(request, "annotations/compare.html", ctx, status_code=exc.status_code)
    url = f"/versions/{version_id}/compare"
    if against.strip().isdigit():
        url += f"?a={int(against)}&b={run.id}"
    return _go(request, url)
