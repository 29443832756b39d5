"""JSON API for projects: list, settings, members. The same services as the HTML pages."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from app.accounts import access
from app.accounts import service as accounts
from app.accounts.deps import DbSession, scoped
from app.models import User
from app.projects import service
from app.projects.schemas import MemberOut, ProjectOut, ProjectSettingsUpdate, ProjectWithRole

router = APIRouter(prefix="/api/v1", tags=["projects"])

Reader = Annotated[User, scoped("read")]
Admin = Annotated[User, scoped("admin")]


@router.get("/projects", response_model=list[ProjectWithRole])
def list_projects(session: DbSession, user: Reader):
    return [ProjectWithRole(id=p.id, name=p.name, description=p.description, model=p.model, role=role)
            for p, role in accounts.user_projects(session, user)]


@router.get("/projects/{project_id}", response_model=ProjectOut)
def get_project(project_id: int, session: DbSession, user: Reader):
    project, _role = access.require_project(session, user, project_id)
    return project


# The body is checked by the service (the settings page's rules and messages); the schema is
# declared here for the OpenAPI page only.
@router.patch("/projects/{project_id}", response_model=ProjectOut, openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": ProjectSettingsUpdate.model_json_schema()}}}})
def patch_project(project_id: int, body: Annotated[dict[str, Any], Body()], session: DbSession, user: Admin):
    project, _changed = service.update_project(session, project_id=project_id, actor=user, changes=body)
    return project


@router.get("/projects/{project_id}/members", response_model=list[MemberOut])
def list_members(project_id: int, session: DbSession, user: Reader):
    _project, members = accounts.project_members(session, project_id=project_id, actor=user)
    return [MemberOut(user_id=u.id, email=u.email, name=u.name, role=m.role, since=m.created_at)
            for m, u in members]
