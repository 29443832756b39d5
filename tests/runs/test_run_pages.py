"""The run page and the trace of a chunked run: progress in chunks, calls grouped by chunk, and a
failed run's plain-words error with the model's own text one click away."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.db import get_session
from app.main import create_app
from app.runs import pipeline
from tests.conftest import login
from tests.runs.test_chunks import long_text, small_chunks  # noqa: F401  (fixture)
from tests.runs.test_pipeline import start


@pytest.fixture
def live_client(live):
    app = create_app()

    def _session():
        with live.session() as session:
            yield session
            session.commit()

    app.dependency_overrides[get_session] = _session
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def test_run_page_shows_chunks_done_and_the_trace_groups_by_chunk(live, live_client, small_chunks):  # noqa: F811
    seeded = live.seed(text=long_text(6))
    run_id = start(live, seeded)
    login(live_client, seeded.writer)
    queued = live_client.get(f"/runs/{run_id}")
    assert "Chunks done: <strong>0 / 1</strong>" in queued.text  # not split yet: the worker does that
    pipeline.execute(run_id)
    page = live_client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert "Chunks done: <strong>3 / 3</strong>" in page.text and "critique 3, propose 3, verify 3" in page.text
    api = live_client.get(f"/api/v1/runs/{run_id}").json()
    assert api["chunk_count"] == 3 and api["chunks_done"] == 3
    login(live_client, seeded.admin)
    trace = live_client.get(f"/runs/{run_id}/trace")
    assert trace.status_code == 200
    assert trace.text.count("Calls by chunk (3)") == 3  # one group per stage
    assert "Chunk 2 · characters" in trace.text


def test_a_failed_run_says_what_to_do_and_keeps_the_raw_text(live, live_client, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    seeded = live.seed(text="We beleive it.", model="openai/gpt-4o-mini", cache_enabled=False, max_retries=0)
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    login(live_client, seeded.writer)
    page = live_client.get(f"/runs/{run_id}").text
    assert "The critique stage failed: OpenAI needs OPENAI_API_KEY on the worker" in page
    assert "own error text" in page and "Missing credentials" in page.split("own error text")[1]
    api = live_client.get(f"/api/v1/runs/{run_id}").json()
    assert api["error"].startswith("The critique stage failed: OpenAI needs OPENAI_API_KEY")
    assert "InternalServerError" in api["error_detail"] or "AuthenticationError" in api["error_detail"]
