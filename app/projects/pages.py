"""HTML routes for projects: the list a user sees after signing in."""
from __future__ import annotations

from fastapi import APIRouter, Request

from app.accounts import service as accounts
from app.accounts.deps import CurrentUser, DbSession
from app.web import render

router = APIRouter(include_in_schema=False)


@router.get("/projects")
def project_list(request: Request, session: DbSession, user: CurrentUser):
    return render(request, "projects/list.html", {"projects": accounts.user_projects(session, user)})
