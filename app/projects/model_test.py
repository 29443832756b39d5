"""*Test model* on the project settings page: one small call through the gateway, in a worker.

Model calls happen only in workers (their keys and network live there, not in the web process), so
the page records a request, a Celery task (`models.test`) makes the call and records the answer or
the plain-words error as an event, and the page polls for that event. Both steps are events, so the
log shows who tested which model string and what came back.
"""
from __future__ import annotations

import time
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import access
from app.events import service as events
from app.jobs import enqueue_after_commit
from app.models import Event, Project, User

PROMPT = [{"role": "system", "content": "You are being tested. Answer in at most five words."},
          {"role": "user", "content": "Reply with: ready."}]
RESULT_KIND = "model.tested"
# How long the page waits for a worker before saying none has answered.
WAIT_SECONDS = 90


def request_test(session: Session, *, project_id: int, user: User) -> dict:
    """Queue one small call to the project's model; returns the token the page polls with."""
    project, _role = access.require_project(session, user, project_id, roles=("admin",))
    token = uuid.uuid4().hex
    events.record(session, kind="model.test_requested", actor=user, subject=project,
                  data={"token": token, "model": project.model})
    enqueue_after_commit(session, "models.test", project.id, token)
    return {"token": token, "model": project.model, "requested_at": time.time()}


def run_test(session_factory, *, project_id: int, token: str) -> dict:
    """In the worker: call the model once (no retries, no cache) and record what happened."""
    from app.config import get_settings
    from app.llm import errors
    from app.llm.gateway import ModelError, ModelSettings, complete

    with session_factory() as session:
        project = session.get(Project, project_id)
        if project is None:
            return {}
        settings = ModelSettings(model=project.model, temperature=0.0, max_tokens=16,
                                 timeout=min(float(project.timeout_seconds or 30), 30.0), max_retries=0,
                                 cache=False, api_base=get_settings().model_api_base)
    result: dict = {"token": token, "model": settings.model}
    try:
        result["warning"] = errors.model_warning(settings.model)
        call = complete(PROMPT, settings)
        result.update(ok=True, answer=call.content.strip()[:500], latency_ms=call.latency_ms,
                      tokens_in=call.tokens_in, tokens_out=call.tokens_out)
    except ModelError as exc:
        problem = errors.describe(exc, model=settings.model, api_base=settings.api_base, timeout=settings.timeout)
        result.update(ok=False, error=problem.message, detail=problem.detail[:4000], kind=problem.kind)
    with session_factory() as session:
        project = session.get(Project, project_id)
        events.record(session, kind=RESULT_KIND, subject=project, source="ai", data=result)
        session.commit()
    return result


def test_result(session: Session, *, project_id: int, user: User, token: str) -> dict | None:
    """The recorded result of one test, or None while the worker has not answered yet."""
    project, _role = access.require_project(session, user, project_id, roles=("admin",))
    rows = session.scalars(
        select(Event.data).where(Event.kind == RESULT_KIND, Event.subject_kind == "project",
                                 Event.subject_id == project.id).order_by(Event.id.desc()).limit(50))
    return next((data for data in rows if data.get("token") == token), None)
