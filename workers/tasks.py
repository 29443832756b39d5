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


@celery_app.task(name="maintenance.sweep_stale_runs")
def sweep_stale_runs() -> dict:
    """Every few seconds (beat): runs whose worker died, or whose message was lost, are re-sent
    or failed with a message (app/runs/service.py sweep_stale_runs)."""
    return sweep_runs()


@celery_app.task(name="maintenance.fold_metric_rollups")
def fold_metric_rollups() -> int:
    """Every sweep (beat): the metrics rollups' deltas (PostgreSQL) folded into their counts, so
    the pages sum a few rows; readers see the same figures before and after."""
    from app.metrics import rollups

    with session_scope() as session:
        return rollups.fold(session.connection())


def sweep_runs() -> dict:
    from app.config import get_settings
    from app.runs import service

    settings = get_settings()
    with session_scope() as session:
        return service.sweep_stale_runs(session, stale_seconds=settings.run_stale_seconds,
                                        max_recoveries=settings.run_max_recoveries,
                                        broker_queue_empty=broker_queue_empty())


def broker_queue_empty() -> bool | None:
    """Whether the broker holds no waiting message for the workers (None: it cannot be asked)."""
    try:
        with celery_app.connection_for_write() as connection:
            channel = connection.default_channel
            declared = channel.queue_declare(queue=celery_app.conf.task_default_queue, passive=True)
            return declared.message_count == 0
    except Exception:  # noqa: BLE001 - the broker is down: the re-send fails too, and the next sweep tries again
        return None
