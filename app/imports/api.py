"""JSON API for imports: POST /api/v1/imports (multipart: file, project_id), progress by id."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app import project_jobs
from app.accounts.deps import DbSession, scoped
from app.bounds import DbId
from app.imports import service
from app.imports.schemas import ImportOut
from app.models import Import, User

router = APIRouter(prefix="/api/v1", tags=["imports"])


def to_out(job: Import) -> ImportOut:
    return ImportOut(id=job.id, project_id=job.project_id, filename=job.filename, status=job.status,
                     progress=service.progress_percent(job), lines_read=job.lines_read or 0,
                     records_added=job.records_added or 0, records_skipped=job.records_skipped or 0,
                     error_count=job.error_count or 0, errors=job.errors or [], counts=job.counts or {},
                     error=job.error, created_at=job.created_at, started_at=job.started_at,
                     finished_at=job.finished_at)


@router.post("/imports", status_code=202, response_model=ImportOut)
def create(session: DbSession, file: Annotated[UploadFile, File()], project_id: Annotated[DbId, Form()],
           user: User = scoped("admin")):
    """Queue the import of a JSONL revision log (docs/import-format.md) into a project you administer."""
    job = service.create_import(session, actor=user, project_id=project_id, filename=file.filename or "",
                                data=file.file)
    return to_out(job)


project_jobs.add_read_routes(
    router, plural="imports", id_name="import_id", response_model=ImportOut, to_out=to_out,
    get=lambda session, *, actor, job_id: service.get_import(session, actor=actor, import_id=job_id),
    list_=service.list_imports)
