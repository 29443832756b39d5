"""JSON API: a project's variants and their acceptance."""
from __future__ import annotations

from fastapi import APIRouter

from app.accounts.deps import DbSession, scoped
from app.models import User
from app.variants import service

router = APIRouter(prefix="/api/v1", tags=["variants"])


@router.get("/projects/{project_id}/variants")
def report(project_id: int, session: DbSession, user: User = scoped("read")) -> dict:
    r = service.variants_report(session, actor=user, project_id=project_id)
    return {"project_id": project_id, "policy": r["policy"], "enough_data": r["enough"],
            "min_decisions": r["min_decisions"], "pairs": r["pairs"],
            "variants": [{"id": row["variant"].id, "name": row["variant"].name, "model": row["variant"].model,
                          "instructions": row["variant"].instructions, "temperature": row["variant"].temperature,
                          "share": row["variant"].share, "active": row["variant"].active, "runs": row["runs"],
                          "accepted": row["accepted"], "decided": row["decided"], "acceptance": row["acceptance"],
                          "interval": row["interval"], "enough_data": row["enough"]} for row in r["rows"]]}
