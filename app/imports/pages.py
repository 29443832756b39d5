"""HTML routes of imports: a project's imports with an upload form, and each job's live progress."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import RedirectResponse

from app.accounts import access
from app.accounts.deps import CurrentUser, DbSession
from app.imports import service
from app.web import is_htmx, render

router = APIRouter(include_in_schema=False)
TEMPLATE = "imports/list.html"


def _page(request: Request, session, user, project_id: int, *, notice: str | None = None):
    project, _role = access.require_project(session, user, project_id, roles=("admin",))
    return render(request, TEMPLATE, {"project": project, "jobs": service.list_imports(
        session, actor=user, project_id=project_id), "notice": notice, "progress": service.progress_percent},
        block="import_list")


@router.get("/projects/{project_id}/imports")
def imports_page(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    return _page(request, session, user, project_id)


@router.post("/projects/{project_id}/imports")
def upload(request: Request, project_id: int, session: DbSession, user: CurrentUser,
           file: Annotated[UploadFile, File()]):
    job = service.create_import(session, actor=user, project_id=project_id, filename=file.filename or "",
                                data=file.file)
    if not is_htmx(request):
        return RedirectResponse(f"/projects/{project_id}/imports", status_code=303)
    return _page(request, session, user, project_id, notice=f"Import #{job.id} ({job.filename}) is queued.")


@router.get("/imports/{import_id}/row")
def import_row(request: Request, import_id: int, session: DbSession, user: CurrentUser):
    job = service.get_import(session, actor=user, import_id=import_id)
    return render(request, TEMPLATE, {"job": job, "progress": service.progress_percent}, block="import_row")
