"""A real Celery worker killed in the middle of a chunked run: the next worker does only the
chunks not yet done (no unit asked twice except the one killed mid-call, no duplicate rows)."""
from __future__ import annotations

import os
import re
import signal
import threading

import pytest
from sqlalchemy import func, select

from app.config import get_settings
from app.db import make_engine
from app.llm import reviser
from app.models import Edit, RunChunk, Stage
from app.runs import service
from tests.fakes.openai_server import FakeOpenAIServer, chat_reply
from tests.helpers import wait_until
from tests.runs.conftest import Live
from tests.runs.test_chunks import _part, long_text
from tests.runs.test_worker import wait_for_run
from tests.workers.conftest import send_through, sqlite_app_db, worker  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def test_a_killed_worker_resumes_only_the_missing_chunks(tmp_path, monkeypatch, sqlite_app_db,  # noqa: F811
                                                          send_through, worker):  # noqa: F811
    broker_url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    send_through(broker_url)
    engine = make_engine(sqlite_app_db)
    live = Live(engine)
    text = long_text(6)  # 3 chunks of 600 characters
    asked: list[tuple[str, int | None]] = []
    lock = threading.Lock()

    def answer(payload):
        unit = _part(payload["messages"])
        with lock:
            asked.append(unit)
            first_time = asked.count(unit) == 1
        reply = chat_reply(reviser.respond(payload["messages"]))
        if unit == ("propose", 1) and first_time:
            reply.delay = 60  # the worker is killed while it waits for this answer
        return reply

    with FakeOpenAIServer(responder=answer) as server:
        # One model slot: the chunks go one after another, so the kill lands at a known unit.
        env = {"EMEND_DATABASE_URL": sqlite_app_db, "EMEND_BROKER_URL": broker_url,
               "EMEND_MODEL_API_BASE": server.base_url, "EMEND_CHUNK_CHARS": "600",
               "EMEND_MODEL_CONCURRENCY": "1"}
        monkeypatch.setenv("EMEND_MODEL_API_BASE", server.base_url)
        get_settings.cache_clear()
        try:
            seeded = live.seed(text=text, model="openai/fake", cache_enabled=False, max_retries=0,
                               timeout_seconds=120)
            with live.session() as s:
                run_id = service.start_run(s, document_id=seeded.document_id, user=seeded.writer).id
                s.commit()
            first = worker(env)
            wait_until(lambda: ("propose", 1) in asked or None, timeout=120, proc=first,
                       what="the second chunk's propose request to reach the model")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
            with live.session() as s:
                done = {(u.position, u.chunk) for u in s.scalars(
                    select(RunChunk).where(RunChunk.run_id == run_id, RunChunk.status == "succeeded"))}
            assert done == {(0, 0), (1, 0), (2, 0), (0, 1)}

            second = worker({**env, "EMEND_RUN_STALE_SECONDS": "0"})
            run = wait_for_run(live, run_id, second)
            with live.session() as s:
                stages = s.scalar(select(func.count(Stage.id)).where(Stage.run_id == run_id))
                units = s.scalar(select(func.count(RunChunk.id)).where(RunChunk.run_id == run_id))
                edits = s.execute(select(Edit.start, Edit.original).where(Edit.run_id == run_id)).all()
        finally:
            engine.dispose()
            monkeypatch.delenv("EMEND_MODEL_API_BASE")
            get_settings.cache_clear()
    assert run.status == "succeeded", run.error
    assert run.chunk_count == 3 and stages == 3 and units == 9
    # 9 units, each asked once, and the killed propose of chunk 2 asked again
    assert len(asked) == 10 and asked.count(("propose", 1)) == 2 and len(set(asked)) == 9
    assert len(set(edits)) == len(edits)
    assert sorted(start for start, original in edits if original == "beleive") == [
        m.start() for m in re.finditer("beleive", text)]
