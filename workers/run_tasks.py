"""Celery tasks of the revision pipeline (see app/runs)."""
from __future__ import annotations

import logging
import os
import threading
import uuid
from contextlib import contextmanager

from sqlalchemy.exc import InterfaceError, OperationalError

from workers.celery_app import celery_app

log = logging.getLogger(__name__)
# A delivery that cannot reach the database waits and tries again rather than being acked with
# the run left "running"; the sweep fails the run if the database stays away for good.
DB_RETRY_SECONDS = (2, 5, 10, 20, 30)


# acks_late: a worker killed mid-run leaves the task on the broker; the pipeline resumes after
# the last finished stage, so a second delivery is safe. claim_run makes a duplicate harmless.
@celery_app.task(name="runs.execute", acks_late=True, bind=True, max_retries=len(DB_RETRY_SECONDS))
def execute(self, run_id: int) -> None:
    from app.config import get_settings
    from app.db import session_scope
    from app.runs import pipeline, service

    run_id = int(run_id)
    # The worker process and the delivery: a retry of this delivery in this process may take it back.
    claimant = f"{os.getpid()}:{self.request.id or uuid.uuid4().hex}"
    stale = get_settings().run_stale_seconds
    try:
        with session_scope() as session:
            if not service.claim_run(session, run_id=run_id, claimant=claimant, stale_seconds=stale):
                return  # finished, cancelled, or alive in another worker
        with _heartbeat(run_id, claimant, service.heartbeat_interval(stale)):
            pipeline.execute(run_id)
    except (OperationalError, InterfaceError) as exc:  # the database is down, restarting or locked
        retries = self.request.retries or 0
        log.warning("run %s: database unreachable (%s); trying again", run_id, type(exc.orig).__name__)
        raise self.retry(exc=exc, countdown=DB_RETRY_SECONDS[min(retries, len(DB_RETRY_SECONDS) - 1)]) from None


@contextmanager
def _heartbeat(run_id: int, claimant: str, every: float):
    """Beat in a thread of its own, so a long model call is not mistaken for a dead worker."""
    from app.db import session_scope
    from app.runs import service

    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with session_scope() as session:
                    if not service.beat_heartbeat(session, run_id=run_id, claimant=claimant):
                        return
            except Exception as exc:  # noqa: BLE001 - the database is away: the next beat tries again
                log.warning("run %s: heartbeat failed: %s", run_id, type(exc).__name__)

    thread = threading.Thread(target=beat, name=f"emend-heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@celery_app.task(name="models.test")
def test_model(project_id: int, token: str) -> dict:
    """*Test model* on the settings page: one small call, its answer or error recorded as an event."""
    from app.db import SessionLocal, get_engine
    from app.projects import model_test

    get_engine()
    return model_test.run_test(SessionLocal, project_id=int(project_id), token=str(token))
