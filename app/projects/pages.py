"""HTML routes for projects: the list, a project's documents, its members and its settings."""
from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import create_model

from app.accounts import access
from app.accounts import service as accounts
from app.accounts.deps import CurrentUser, DbSession
from app.models import ROLES, SEGMENT_UNITS
from app.projects import model_test, service
from app.projects.schemas import BOOLEAN_FIELDS, SETTING_FIELDS
from app.web import is_htmx, render

router = APIRouter(include_in_schema=False)


def done(request: Request, url: str):
    """After a successful full-page form: navigate (htmx follows HX-Redirect, browsers a 303)."""
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("/projects")
def project_list(request: Request, session: DbSession, user: CurrentUser):
    return render(request, "projects/list.html", {"projects": accounts.user_projects(session, user)})


@router.post("/projects")
def create_project(request: Request, session: DbSession, user: CurrentUser, name: Annotated[str, Form()],
                   description: Annotated[str, Form()] = ""):
    project = accounts.create_project(session, name=name, description=description, actor=user)
    return done(request, f"/projects/{project.id}")


@router.get("/projects/{project_id}")
def project_page(request: Request, project_id: int, session: DbSession, user: CurrentUser, page: int = 1):
    view = service.project_documents(session, project_id=project_id, user=user, page=page)
    return render(request, "projects/detail.html", {"view": view, "project": view.project, "role": view.role},
                  block="documents")


# --- members ------------------------------------------------------------------------------

def _members(request: Request, session: DbSession, user, project_id: int, notice: str | None = None):
    if notice is not None:
        # An admin who just removed or demoted themselves may no longer see this page: leave it,
        # rather than fail (which would roll the change back).
        role = access.role_in(session, user, project_id)
        if role != "admin":
            return done(request, f"/projects/{project_id}" if role else "/projects")
    project, members = accounts.project_members(session, project_id=project_id, actor=user)
    if notice and not is_htmx(request):
        # A plain form post: show the fresh list at its own address.
        return RedirectResponse(f"/projects/{project_id}/members", status_code=303)
    return render(request, "projects/members.html",
                  {"project": project, "members": members, "roles": ROLES, "notice": notice}, block="members")


@router.get("/projects/{project_id}/members")
def members_page(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    return _members(request, session, user, project_id)


@router.post("/projects/{project_id}/members")
def add_member(request: Request, project_id: int, session: DbSession, user: CurrentUser,
               email: Annotated[str, Form()], role: Annotated[str, Form()]):
    project, _ = access.require_project(session, user, project_id, roles=("admin",))
    membership = accounts.add_member_by_email(session, project=project, email=email, role=role, actor=user)
    return _members(request, session, user, project_id, notice=f"Added {membership.user.email} as {role}.")


@router.post("/projects/{project_id}/members/{user_id}/role")
def change_role(request: Request, project_id: int, user_id: int, session: DbSession, user: CurrentUser,
                role: Annotated[str, Form()]):
    project, _ = access.require_project(session, user, project_id, roles=("admin",))
    membership = accounts.set_member_role(session, project=project, user_id=user_id, role=role, actor=user)
    return _members(request, session, user, project_id,
                    notice=f"{membership.user.display_name} is now {membership.role}.")


@router.post("/projects/{project_id}/members/{user_id}/remove")
def remove_member(request: Request, project_id: int, user_id: int, session: DbSession, user: CurrentUser):
    project, _ = access.require_project(session, user, project_id, roles=("admin",))
    accounts.remove_member(session, project=project, user_id=user_id, actor=user)
    session.flush()
    return _members(request, session, user, project_id, notice="Member removed.")


# --- settings -----------------------------------------------------------------------------

@router.get("/projects/{project_id}/settings")
def settings_page(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    project, _ = access.require_project(session, user, project_id, roles=("admin",))
    return render(request, "projects/settings.html", {"project": project, "segment_units": SEGMENT_UNITS})


# Every setting arrives as text (or not at all: an unticked checkbox); the service types and
# checks them, so the page and the API share one set of rules and messages.
SettingsForm = create_model("SettingsForm", **{field: (str | None, None) for field in SETTING_FIELDS})


@router.post("/projects/{project_id}/settings")
def save_settings(request: Request, project_id: int, session: DbSession, user: CurrentUser,
                  form: Annotated[SettingsForm, Form()]):
    changes = form.model_dump(exclude_none=True)
    for field in BOOLEAN_FIELDS:
        changes.setdefault(field, "false")
    project, changed = service.update_project(session, project_id=project_id, actor=user, changes=changes)
    if not is_htmx(request):
        return RedirectResponse(f"/projects/{project_id}/settings", status_code=303)
    notice = f"Saved: {', '.join(changed)}." if changed else "Nothing changed."
    # A new model string is tried at once (in a worker): a typo shows up here, not in the next run.
    test = model_test.request_test(session, project_id=project_id, user=user) if "model" in changed else None
    return render(request, "projects/settings.html",
                  {"project": project, "segment_units": SEGMENT_UNITS, "notice": notice, "model_test": test,
                   "oob": True, "wait_seconds": model_test.WAIT_SECONDS},
                  block=["settings_form", "model_test"] if test else "settings_form")


def _model_test(request: Request, project, test: dict, result: dict | None):
    waited = max(0.0, time.time() - float(test.get("requested_at") or time.time()))
    return render(request, "projects/settings.html",
                  {"project": project, "segment_units": SEGMENT_UNITS, "model_test": test, "result": result,
                   "gave_up": result is None and waited > model_test.WAIT_SECONDS,
                   "wait_seconds": model_test.WAIT_SECONDS}, block="model_test")


@router.post("/projects/{project_id}/settings/test-model")
def test_model(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    test = model_test.request_test(session, project_id=project_id, user=user)
    project, _ = access.require_project(session, user, project_id, roles=("admin",))
    return _model_test(request, project, test, None)


@router.get("/projects/{project_id}/settings/test-model/{token}")
def model_test_result(request: Request, project_id: int, token: str, session: DbSession, user: CurrentUser,
                      model: str = "", requested_at: float = 0.0):
    project, _ = access.require_project(session, user, project_id, roles=("admin",))
    result = model_test.test_result(session, project_id=project_id, user=user, token=token)
    test = {"token": token, "model": model or project.model, "requested_at": requested_at or time.time()}
    return _model_test(request, project, test, result)
