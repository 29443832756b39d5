"""The Celery app. Config comes from app.config; tasks live in workers/tasks.py."""
import logging

from celery import Celery
from celery.signals import worker_ready
from kombu.transport import sqlalchemy as kombu_sqla

from app.config import get_settings

# kombu's SQLAlchemy transport hands broker_transport_options to create_engine, so the
# polling interval must be set on the transport class (1 s default → ~1 s task latency).
kombu_sqla.Transport.polling_interval = 0.05


def make_celery() -> Celery:
    settings = get_settings()
    broker = settings.broker_url
    if broker.startswith("sqla+sqlite:///"):
        from pathlib import Path

        path = broker.removeprefix("sqla+sqlite:///")
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    app = Celery("emend", broker=broker, include=["workers.tasks", "workers.run_tasks", "workers.export_tasks"])
    if broker.startswith(("redis://", "rediss://")):
        # A message taken by a worker that died comes back after this long (default: 1 hour).
        app.conf.broker_transport_options = {"visibility_timeout": settings.run_stale_seconds}
    app.conf.update(
        task_ignore_result=True,          # status lives in our own tables
        task_acks_late=True,              # a killed worker's task is delivered again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_always_eager=settings.task_always_eager,
        task_eager_propagates=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue="emend",
        # Sweeps that must happen even when nobody opens the page that would do them: run by
        # `celery beat` (`emend serve` embeds it in its worker; compose runs a beat service).
        beat_schedule={
            "release-idle-claims": {"task": "maintenance.release_idle_claims", "schedule": settings.sweep_seconds},
            "expire-exports": {"task": "maintenance.expire_exports", "schedule": 10 * settings.sweep_seconds},
        },
    )
    return app


celery_app = make_celery()


@worker_ready.connect
def _recover_interrupted_runs(**_kwargs) -> None:
    """Re-send runs that a killed worker left behind (the embedded broker never redelivers them)."""
    from app.db import session_scope
    from app.runs.service import recover_interrupted_runs

    with session_scope() as session:
        recovered = recover_interrupted_runs(session, idle_seconds=get_settings().run_stale_seconds)
    if recovered:
        logging.getLogger(__name__).warning("re-sent interrupted runs %s", recovered)


@worker_ready.connect
def _warm_up(**_kwargs) -> None:
    """Import litellm once at start (5-10 s) so the first run does not pay for it.

    In a thread, so the worker still answers a stop signal while it warms up."""
    import threading

    from app.llm import gateway

    threading.Thread(target=gateway.warm_up, name="emend-warm-up", daemon=True).start()
