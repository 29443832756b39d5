"""The search page: filters as URL parameters, keyset pages, actions on all results."""
from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request

from app.accounts.deps import CurrentUser, DbSession
from app.annotations import queues
from app.errors import EmendError, Invalid
from app.models import INTENTS
from app.search import service
from app.web import render

router = APIRouter(include_in_schema=False)
TEMPLATE = "search/search.html"


def _int(value: str | None, what: str) -> int | None:
    value = (value or "").strip().lstrip("+").replace("−", "-")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"{what} must be a whole number.") from None


def _date(value: str | None, what: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{what} is not a date (YYYY-MM-DD).") from None


def parse_filters(kind: str = "edits", q: str = "", project_id: str = "", model: str = "", intent: str = "",
                  status: str = "", label: str = "", person_id: str = "", date_from: str = "",
                  date_to: str = "") -> service.SearchFilters:
    return service.SearchFilters(
        kind=kind or "edits", q=q.strip(), project_id=_int(project_id, "Project"), model=model.strip(),
        intent=intent.strip(), status=status.strip(), label=_int(label, "Label"),
        person_id=_int(person_id, "Person"), date_from=_date(date_from, "From"), date_to=_date(date_to, "To"))


def _raw(kind, q, project_id, model, intent, status, label, person_id, date_from, date_to) -> dict:
    return {"kind": kind, "q": q, "project_id": project_id, "model": model, "intent": intent, "status": status,
            "label": label, "person_id": person_id, "date_from": date_from, "date_to": date_to}


def _context(session, user, raw: dict, *, before: str = "", message: str | None = None,
             notice: str | None = None) -> tuple[dict, int]:
    ctx = {"raw": raw, "intents": INTENTS, "statuses": service.STATUSES, "kinds": service.KINDS,
           "projects": service.searchable_projects(session, user), "page": None, "message": message,
           "notice": notice, "queues": queues.manageable_run_queues(session, user), "next_url": None}
    status = 200
    try:
        filters = parse_filters(**raw)
        page = service.search(session, user=user, filters=filters, before=_int(before, "Page"))
        ctx["page"] = page
        ctx["query"] = urlencode(filters.as_query())
        if page.next_before:
            ctx["next_url"] = "/search?" + urlencode({**filters.as_query(), "before": page.next_before})
    except EmendError as exc:
        ctx["message"] = message or exc.message
        status = exc.status_code
    return ctx, status


@router.get("/search")
def search_page(request: Request, session: DbSession, user: CurrentUser, kind: str = "edits", q: str = "",
                project_id: str = "", model: str = "", intent: str = "", status: str = "", label: str = "",
                person_id: str = "", date_from: str = "", date_to: str = "", before: str = ""):
    raw = _raw(kind, q, project_id, model, intent, status, label, person_id, date_from, date_to)
    ctx, code = _context(session, user, raw, before=before)
    return render(request, TEMPLATE, ctx, block="results", status_code=code)


@router.post("/search/actions")
def search_action(request: Request, session: DbSession, user: CurrentUser,
                  action: Annotated[str, Form()], kind: Annotated[str, Form()] = "edits",
                  q: Annotated[str, Form()] = "", project_id: Annotated[str, Form()] = "",
                  model: Annotated[str, Form()] = "", intent: Annotated[str, Form()] = "",
                  status: Annotated[str, Form()] = "", label: Annotated[str, Form()] = "",
                  person_id: Annotated[str, Form()] = "", date_from: Annotated[str, Form()] = "",
                  date_to: Annotated[str, Form()] = "", queue_id: Annotated[str, Form()] = ""):
    """Act on every result of the filter: add to a queue, export, accept or reject."""
    raw = _raw(kind, q, project_id, model, intent, status, label, person_id, date_from, date_to)
    try:
        filters = parse_filters(**raw)
        with session.begin_nested():  # all or nothing: a refused action leaves no half of it
            if action == "queue":
                qid = _int(queue_id, "Queue")
                if qid is None:
                    raise Invalid("Choose a queue to add the results to.")
                notice = service.add_results_to_queue(session, user=user, filters=filters, queue_id=qid) \
                    .summary("Added to the queue: runs")
            elif action in ("accept", "reject"):
                notice = service.decide_results(session, user=user, filters=filters, decision=action) \
                    .summary("Accepted" if action == "accept" else "Rejected")
            elif action == "export":
                export = service.export_results(session, user=user, filters=filters)
                notice = f"Export #{export.id} ({export.format}) is queued; follow it on the Exports page."
            else:
                raise Invalid("Unknown action.")
    except EmendError as exc:
        ctx, _code = _context(session, user, raw, message=exc.message)
        return render(request, TEMPLATE, ctx, block="results", status_code=exc.status_code)
    ctx, code = _context(session, user, raw, notice=notice)
    return render(request, TEMPLATE, ctx, block="results", status_code=code)

