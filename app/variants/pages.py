"""HTML routes of a project's variants: definitions, policy, acceptance and pairwise results."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from app.accounts.deps import CurrentUser, DbSession
from app.variants import service
from app.web import render

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/variants")
def variants_page(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    return render(request, "variants/list.html", service.variants_report(session, actor=user, project_id=project_id))


@router.post("/projects/{project_id}/variants")
def save_variant(project_id: int, session: DbSession, user: CurrentUser, name: Annotated[str, Form()],
                 model: Annotated[str, Form()] = "", instructions: Annotated[str, Form()] = "",
                 temperature: Annotated[float, Form()] = 0.0, share: Annotated[float, Form()] = 1.0,
                 active: Annotated[bool, Form()] = False):
    service.save_variant(session, actor=user, project_id=project_id, name=name, model=model,
                         instructions=instructions, temperature=temperature, share=share, active=active)
    return RedirectResponse(f"/projects/{project_id}/variants", status_code=303)


@router.post("/projects/{project_id}/variants/policy")
def set_policy(project_id: int, session: DbSession, user: CurrentUser, policy: Annotated[str, Form()]):
    service.set_policy(session, actor=user, project_id=project_id, policy=policy)
    return RedirectResponse(f"/projects/{project_id}/variants", status_code=303)
