"""Thin Celery tasks: take ids, open one session, call app services."""
from app.db import session_scope
from workers.celery_app import celery_app


@celery_app.task(name="system.ping")
def ping(token: str) -> str:
    """Records that a worker picked up a task; used by health checks and the broker tests."""
    from app.events import service as events

    with session_scope() as session:
        events.record(session, kind="system.ping", data={"token": token}, source="ai")
    return token
