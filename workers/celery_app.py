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
    app = Celery("emend", broker=broker, include=["workers.tasks", "workers.run_tasks", "workers.export_tasks", "workers.import_tasks"])
    if broker.startswith(("redis://", "rediss://")):
        # A message taken by a worker that died comes back after this long. Beat's run sweep
        # notices a dead worker within EMEND_RUN_STALE_SECONDS, long before; a late copy is harmless
        # (claim_run), so this stays long and a slow run is not handed to a second worker for nothing.
        app.conf.broker_transport_options = {"visibility_timeout": 3600}
    app.conf.update(
        task_ignore_result=True,          # status lives in our own tables
        task_acks_late=True,              # a killed worker's task is delivered again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_always_eager=settings.task_always_eager,
        task_eager_propagates=True,
        broker_connection_retry_on_startup=True,
        # A request that starts a run while the broker is down answers within about a second
        # (503, the run failed with a message) instead of hanging in kombu's retries.
        broker_connection_timeout=2,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        worker_hijack_root_logger=False,
        task_default_queue="emend",
        # Sweeps that must happen even when nobody opens the page that would do them: run by
        # `celery beat` (`emend serve` embeds it in its worker; compose runs a beat service).
        beat_schedule={
            "release-idle-claims": {"task": "maintenance.release_idle_claims", "schedule": settings.sweep_seconds},
            "expire-exports": {"task": "maintenance.expire_exports", "schedule": 10 * settings.sweep_seconds},
            "sweep-stale-runs": {"task": "maintenance.sweep_stale_runs",
                                 "schedule": max(1.0, min(settings.sweep_seconds, settings.run_stale_seconds / 2))},
            # PostgreSQL: the metrics rollups' deltas into their counts (app/metrics/rollups.py).
            "fold-metric-rollups": {"task": "maintenance.fold_metric_rollups", "schedule": settings.sweep_seconds},
        },
    )
    return app


celery_app = make_celery()


@worker_ready.connect
def _recover_interrupted_runs(**_kwargs) -> None:
    """Sweep once at start, not only at beat's first tick: runs a killed worker left behind."""
    from workers.tasks import sweep_runs

    try:
        swept = sweep_runs()
    except Exception:  # the database is not there yet: beat's sweep will do it
        logging.getLogger(__name__).exception("could not sweep stale runs at start")
        return
    if any(swept.values()):
        logging.getLogger(__name__).warning("stale runs at start: %s", swept)


@worker_ready.connect
def _warm_up(**_kwargs) -> None:
    """Import litellm once at start (5-10 s) so the first run does not pay for it.

    In a thread, so the worker still answers a stop signal while it warms up."""
    import threading

    from app.llm import gateway

    threading.Thread(target=gateway.warm_up, name="emend-warm-up", daemon=True).start()
