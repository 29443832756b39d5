"""HTML routes of runs: the run page with its self-polling status block, and cancel."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from app.accounts.deps import CurrentUser, DbSession
from app.runs import progress, service
from app.web import is_htmx, render

router = APIRouter(include_in_schema=False)


def _context(session, run) -> dict:
    return {"run": run, "document": run.document, "active": run.status in service.ACTIVE_STATUSES,
            "edit_counts": _edit_counts(run), "stop_message": service.stop_message(run.document),
            "progress": progress.chunk_progress(session, run)}


def _edit_counts(run) -> dict:
    counts = {"pending": 0, "accepted": 0, "rejected": 0, "modified": 0}
    for edit in run.edits:
        counts[edit.status] = counts.get(edit.status, 0) + 1
    return counts


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: int, session: DbSession, user: CurrentUser):
    run = service.run_detail(session, run_id=run_id, user=user)
    return render(request, "runs/run.html", _context(session, run), block="run_status")


@router.post("/runs/{run_id}/cancel")
def cancel(request: Request, run_id: int, session: DbSession, user: CurrentUser):
    service.cancel_run(session, run_id=run_id, user=user)
    if not is_htmx(request):
        return RedirectResponse(f"/runs/{run_id}", status_code=303)
    run = service.run_detail(session, run_id=run_id, user=user)
    return render(request, "runs/run.html", _context(session, run), block="run_status")
