"""Celery tasks that build exports (see app/exports)."""
from app.exports import service
from workers.celery_app import celery_app


@celery_app.task(name="exports.build", acks_late=True)
def build(export_id: int) -> None:
    """Build one export's bundle; a redelivered task rebuilds it from scratch (see build_export)."""
    service.build_in_own_sessions(export_id)
