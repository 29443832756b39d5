"""Celery tasks of issue 11: imports of revision logs and replay evaluations (app/imports, app/replays)."""
from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError

from workers.celery_app import celery_app

DB_RETRY_SECONDS = (2, 5, 10, 20, 30)


def _factory():
    from app.db import SessionLocal, get_engine

    get_engine()
    return SessionLocal()


# Both jobs resume where they stopped (a transaction per batch / per version), so a redelivery is safe.
@celery_app.task(name="imports.run", acks_late=True, bind=True, max_retries=len(DB_RETRY_SECONDS))
def run_import(self, import_id: int) -> None:
    from app.imports import service

    try:
        service.run_import(int(import_id), session_factory=_factory)
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(exc=exc, countdown=DB_RETRY_SECONDS[min(self.request.retries or 0, 4)]) from exc


@celery_app.task(name="replays.run", acks_late=True, bind=True, max_retries=len(DB_RETRY_SECONDS))
def run_replay(self, replay_id: int) -> None:
    from app.replays import service

    try:
        service.run_replay(int(replay_id), session_factory=_factory)
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(exc=exc, countdown=DB_RETRY_SECONDS[min(self.request.retries or 0, 4)]) from exc
