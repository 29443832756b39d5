"""JSON API for project metrics; the same service as the page."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.accounts.deps import DbSession, scoped
from app.metrics import dashboards, service
from app.models import User

router = APIRouter(prefix="/api/v1", tags=["metrics"])


@router.get("/projects/{project_id}/metrics")
def project_metrics(project_id: int, session: DbSession, user: Annotated[User, scoped("read")]) -> dict:
    """Acceptance by depth, intent, model (and person, for project admins); runs, edits per run,
    where loops stopped, median seconds from a run's end to a person's decision."""
    return service.project_metrics(session, user=user, project_id=project_id).as_dict()


@router.get("/projects/{project_id}/dashboards")
def project_dashboards(project_id: int, session: DbSession, user: Annotated[User, scoped("read")]) -> dict:
    """Per annotator and per queue: items done, items per hour, median seconds per item, κ with the
    others, α, labels changed after seeing the others (blind queues); per model: acceptance per
    week. Annotators see the totals and their own rows; project admins see everyone's."""
    return dashboards.project_dashboards(session, user=user, project_id=project_id).as_dict()
