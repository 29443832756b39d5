"""JSON API for project metrics; the same service as the page."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.accounts.deps import DbSession, scoped
from app.metrics import service
from app.models import User

router = APIRouter(prefix="/api/v1", tags=["metrics"])


@router.get("/projects/{project_id}/metrics")
def project_metrics(project_id: int, session: DbSession, user: Annotated[User, scoped("read")]) -> dict:
    """Acceptance by depth, intent, model (and person, for project admins); runs, edits per run,
    where loops stopped, median seconds from a run's end to a person's decision."""
    return service.project_metrics(session, user=user, project_id=project_id).as_dict()
