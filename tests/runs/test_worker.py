"""A real Celery worker process executes a real run end to end, on both brokers."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.db import make_engine
from app.models import Run
from app.runs import service
from tests.helpers import wait_until
from tests.runs.conftest import Live
from tests.workers.conftest import (  # noqa: F401  (fixtures)
    postgres_app_db,
    redis_broker,
    send_through,
    sqlite_app_db,
    worker,
)

pytestmark = pytest.mark.slow


def _run_end_to_end(app_db_url: str, broker_url: str, send_through, worker) -> None:  # noqa: F811
    send_through(broker_url)
    engine = make_engine(app_db_url)
    live = Live(engine)
    try:
        seeded = live.seed()
        with live.session() as s:
            run_id = service.start_run(s, document_id=seeded.document_id, user=seeded.writer).id
            s.commit()  # only now is runs.execute sent
        proc = worker({"EMEND_DATABASE_URL": app_db_url, "EMEND_BROKER_URL": broker_url})

        def finished():
            with live.session() as s:
                run = s.scalar(select(Run).where(Run.id == run_id)
                               .options(selectinload(Run.stages), selectinload(Run.edits)))
                return run if run.status not in service.ACTIVE_STATUSES else None

        run = wait_until(finished, timeout=120, proc=proc, what=f"run {run_id} to finish")
        assert run.status == "succeeded", run.error
        assert [(s.name, s.status) for s in run.stages] == [
            ("critique", "succeeded"), ("propose", "succeeded"), ("verify", "succeeded")]
        assert ("beleive", "believe") in {(e.original, e.replacement) for e in run.edits}
    finally:
        engine.dispose()


def test_run_on_embedded_sqlite_broker(tmp_path, sqlite_app_db, send_through, worker):  # noqa: F811
    _run_end_to_end(sqlite_app_db, f"sqla+sqlite:///{tmp_path / 'broker.db'}", send_through, worker)


@pytest.mark.redis
@pytest.mark.postgres
def test_run_on_redis_with_postgresql(postgres_app_db, redis_broker, send_through, worker):  # noqa: F811
    _run_end_to_end(postgres_app_db, redis_broker, send_through, worker)
