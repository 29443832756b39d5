"""A real Celery worker process executes a real run end to end, on both brokers."""
from __future__ import annotations

import json
import os
import signal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.config import get_settings
from app.db import make_engine
from app.models import Run
from app.runs import service
from tests.fakes.openai_server import FakeOpenAIServer, Scripted, chat_reply
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


def wait_for_run(live: Live, run_id: int, proc) -> Run:
    """The run with its stages and edits once it has left queued/running (the worker must live)."""
    def finished():
        with live.session() as s:
            run = s.scalar(select(Run).where(Run.id == run_id)
                           .options(selectinload(Run.stages), selectinload(Run.edits)))
            return run if run.status not in service.ACTIVE_STATUSES else None

    return wait_until(finished, timeout=120, proc=proc, what=f"run {run_id} to finish")


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

        run = wait_for_run(live, run_id, proc)
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


def test_run_survives_a_worker_killed_mid_stage(tmp_path, monkeypatch, sqlite_app_db, send_through,  # noqa: F811
                                                 worker):  # noqa: F811
    """SIGKILL the worker while the model is answering; the next worker resumes the run.

    The embedded broker never redelivers the killed worker's message; the next worker re-sends
    runs that stopped moving (EMEND_RUN_STALE_SECONDS) and the pipeline resumes after the last
    finished stage, so the critique is not asked again and nothing is duplicated.
    """
    broker_url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    send_through(broker_url)
    engine = make_engine(sqlite_app_db)
    live = Live(engine)
    text = "We beleive the results."
    critique = {"critiques": [{"segment": "We beleive the results.", "category": "spelling",
                               "severity": "low", "text": "Misspelt word."}]}
    proposal = {"edits": [{"original": "beleive", "replacement": "believe", "start": 3, "intent": "fluency",
                           "rationale": "Spelling.", "confidence": 0.9}]}
    with FakeOpenAIServer() as server:
        server.push(
            chat_reply(json.dumps(critique)),
            Scripted(body=chat_reply(json.dumps(proposal)).body, delay=60),  # the worker dies in here
            chat_reply(json.dumps(proposal)),
            chat_reply(json.dumps({"scores": [{"index": 0, "score": 0.9}]})),
        )
        env = {"EMEND_DATABASE_URL": sqlite_app_db, "EMEND_BROKER_URL": broker_url,
               "EMEND_MODEL_API_BASE": server.base_url}
        monkeypatch.setenv("EMEND_MODEL_API_BASE", server.base_url)  # start_run freezes it on the run
        get_settings.cache_clear()
        try:
            seeded = live.seed(text=text, model="openai/fake", cache_enabled=False, max_retries=0,
                               timeout_seconds=120)
            with live.session() as s:
                run_id = service.start_run(s, document_id=seeded.document_id, user=seeded.writer).id
                s.commit()
            first = worker(env)

            def proposing():
                # the propose request has reached the model (a "running" stage alone could be killed
                # before its request was sent, and then the slow reply would go to the next worker)
                return len(server.requests) >= 2 or None

            wait_until(proposing, timeout=120, proc=first, what="the propose request to reach the model")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)

            second = worker({**env, "EMEND_RUN_STALE_SECONDS": "0"})

            run = wait_for_run(live, run_id, second)
        finally:
            engine.dispose()
            monkeypatch.delenv("EMEND_MODEL_API_BASE")
            get_settings.cache_clear()
        assert run.status == "succeeded", run.error
        assert [s.name for s in run.stages] == ["critique", "propose", "verify"]
        assert [(e.original, e.replacement) for e in run.edits] == [("beleive", "believe")]
        # critique once, propose twice (the killed call and the resumed one), verify once
        assert len(server.requests) == 4
