"""HTML routes of replays: the form and list of a project, and one replay's results side by side."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.accounts import access
from app.accounts.deps import CurrentUser, DbSession
from app.replays import service
from app.web import is_htmx, render

router = APIRouter(include_in_schema=False)

FIGURES = (("match_rate", "match a logged edit"), ("estimated_acceptance", "estimated acceptance (matched)"),
           ("snips_acceptance", "acceptance, self-normalised IPS"), ("ips_acceptance", "acceptance, IPS"),
           ("accepted_share", "accepted share of all its edits"), ("recall_accepted", "recall of accepted edits"),
           ("rejected_rate", "proposes what people rejected"))


@router.get("/projects/{project_id}/replays")
def replays_page(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    project, _role = access.require_project(session, user, project_id, roles=("admin",))
    from app.variants.service import list_variants

    return render(request, "replays/list.html", {
        "project": project, "replays": service.list_replays(session, actor=user, project_id=project_id),
        "variants": list_variants(session, actor=user, project_id=project_id), "progress": service.progress_percent})


@router.post("/projects/{project_id}/replays")
def create_replay(request: Request, project_id: int, session: DbSession, user: CurrentUser,
                  model: Annotated[str, Form()], prompt_variant: Annotated[str, Form()] = "",
                  instructions: Annotated[str, Form()] = "", temperature: Annotated[str, Form()] = "",
                  since: Annotated[str, Form()] = "", until: Annotated[str, Form()] = "",
                  depths: Annotated[str, Form()] = "", person_ids: Annotated[str, Form()] = "",
                  name: Annotated[str, Form()] = ""):
    replay = service.create_replay(session, actor=user, project_id=project_id, name=name, model=model,
                                   prompt_variant=prompt_variant, instructions=instructions,
                                   temperature=temperature or None, since=since, until=until, depths=depths,
                                   person_ids=person_ids)
    target = f"/replays/{replay.id}"
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.get("/replays/{replay_id}")
def replay_page(request: Request, replay_id: int, session: DbSession, user: CurrentUser):
    replay = service.get_replay(session, actor=user, replay_id=replay_id)
    project, _role = access.require_project(session, user, replay.project_id, roles=("admin",))
    return render(request, "replays/detail.html", {"replay": replay, "project": project, "figures": FIGURES,
                                                   "progress": service.progress_percent(replay)},
                  block="replay_status")


@router.get("/replays/{replay_id}/matches.jsonl")
def matches(replay_id: int, session: DbSession, user: CurrentUser):
    rows = list(service.matched_jsonl(session, actor=user, replay_id=replay_id))
    return Response(b"".join(rows), media_type="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="replay-{replay_id}-matches.jsonl"'})


@router.get("/projects/{project_id}/shadow-agreement")
def shadow_agreement(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    """The metrics page's shadow-user block (loaded into it), or a page of its own without JavaScript."""
    from app.replays.agreement import shadow_agreement as compute

    project, _role = access.require_project(session, user, project_id)
    return render(request, "replays/shadow_agreement.html",
                  {"project": project, "agreement": compute(session, user=user, project_id=project_id)},
                  block="shadow_agreement")
