"""JSON API for replay evaluations (project admins)."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app import project_jobs
from app.accounts.deps import DbSession, scoped
from app.models import Replay, User
from app.replays import service
from app.replays.schemas import ReplayCreate, ReplayOut

router = APIRouter(prefix="/api/v1", tags=["replays"])


def to_out(replay: Replay) -> ReplayOut:
    return ReplayOut(id=replay.id, project_id=replay.project_id, name=replay.name, candidate=replay.candidate,
                     slice=replay.slice, status=replay.status, progress=service.progress_percent(replay),
                     versions_total=replay.versions_total, versions_done=replay.versions_done,
                     versions_failed=replay.versions_failed, results=replay.results, error=replay.error,
                     created_at=replay.created_at, finished_at=replay.finished_at)


@router.post("/replays", status_code=202, response_model=ReplayOut)
def create(body: ReplayCreate, session: DbSession, user: User = scoped("admin")):
    """Queue a replay of a candidate against the logged decisions of a slice of the project."""
    replay = service.create_replay(
        session, actor=user, project_id=body.project_id, name=body.name, model=body.model,
        prompt_variant=body.prompt_variant, instructions=body.instructions, temperature=body.temperature,
        since=body.since.isoformat() if body.since else None, until=body.until.isoformat() if body.until else None,
        depths=body.depths, person_ids=body.person_ids)
    return to_out(replay)


project_jobs.add_read_routes(
    router, plural="replays", id_name="replay_id", response_model=ReplayOut, to_out=to_out,
    get=lambda session, *, actor, job_id: service.get_replay(session, actor=actor, replay_id=job_id),
    list_=service.list_replays)


@router.get("/replays/{replay_id}/matches.jsonl", response_class=StreamingResponse, responses={200: {
    "description": "JSON lines: one per candidate edit, with its match.", "content": {"application/x-ndjson": {}}}})
def matches(replay_id: int, session: DbSession, user: User = scoped("read")):
    """One JSON line per candidate edit with the logged edit it matched and that edit's decision."""
    rows = list(service.matched_jsonl(session, actor=user, replay_id=replay_id))
    return StreamingResponse(iter(rows), media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="replay-{replay_id}-matches.jsonl"'})
