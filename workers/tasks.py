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


@celery_app.task(name="maintenance.release_idle_claims")
def release_idle_claims() -> int:
    """Every EMEND_SWEEP_SECONDS (beat): queue items claimed and left idle go back to other annotators."""
    from app.annotations import queues

    with session_scope() as session:
        return queues.release_all_idle_claims(session)


@celery_app.task(name="maintenance.expire_exports")
def expire_exports() -> int:
    """Every tenth sweep (beat): delete the files of exports past their expiry."""
    from app.exports import service

    with session_scope() as session:
        return service.cleanup_expired(session)
