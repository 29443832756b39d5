"""The project metrics page: acceptance drawn as <meter> bars, no chart library."""
from __future__ import annotations

from fastapi import APIRouter, Request

from app.accounts.deps import CurrentUser, DbSession
from app.metrics import service
from app.models import Project
from app.web import render

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/metrics")
def metrics_page(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    metrics = service.project_metrics(session, user=user, project_id=project_id)
    return render(request, "metrics/project.html", {"metrics": metrics, "project": session.get(Project, project_id)})
