"""The pipeline over the real litellm HTTP path, against a scripted OpenAI-compatible server."""
from __future__ import annotations

import json

import pytest

from app.config import get_settings
from app.runs import pipeline
from tests.fakes.openai_server import FakeOpenAIServer, Scripted, chat_reply, error_body
from tests.runs.test_pipeline import decide_all, load, start

TEXT = "We beleive that the the results are good."


@pytest.fixture
def server(monkeypatch):
    with FakeOpenAIServer() as srv:
        monkeypatch.setenv("EMEND_MODEL_API_BASE", srv.base_url)
        get_settings.cache_clear()
        yield srv
    get_settings.cache_clear()


def reply(value) -> Scripted:
    return chat_reply(json.dumps(value))


def edit(original: str, replacement: str, start: int) -> dict:
    return {"original": original, "replacement": replacement, "start": start, "intent": "fluency",
            "rationale": "Spelling.", "confidence": 0.9}


def test_a_real_model_run_and_its_accounting(live, server):
    seeded = live.seed(text=TEXT, model="openai/fake", cache_enabled=False)
    server.push(
        reply({"critiques": [{"segment": "beleive", "category": "spelling", "severity": "low",
                              "text": "Misspelt."}]}),
        Scripted(status=429, body=error_body("slow down", "rate_limit_error")),
        reply({"edits": [edit("beleive", "believe", 3), edit("the the", "the", 999)]}),
        reply({"scores": [{"index": 0, "score": 0.95}, {"index": 1, "score": 0.2}]}),
    )
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "succeeded", run.error
    assert [s.attempts for s in run.stages] == [1, 2, 1]  # the 429 was retried and counted
    assert run.tokens_in == 3 * 11 and run.tokens_out == 3 * 7
    # The wrong offset of "the the" was re-anchored, then the verifier dropped it.
    assert run.stages[1].parsed_output["edits"][1]["start"] == TEXT.index("the the")
    assert [(e.original, e.replacement, e.verify_score) for e in run.edits] == [("beleive", "believe", 0.95)]
    assert run.dropped_by_verify == 1
    assert all(request["model"] == "fake" for request in server.requests)


def test_a_rejected_edit_proposed_again_is_dropped(live, server):
    seeded = live.seed(text=TEXT, cache_enabled=False)
    first = start(live, seeded)
    pipeline.execute(first)  # the offline reviser
    decide_all(live, first, reject={"the the"})
    live.update_project(seeded.project_id, model="openai/fake")

    server.push(
        reply({"critiques": []}),
        # A real model may ignore the do-not-repeat list; the pipeline must not show the edit again.
        reply({"edits": [edit("the the", "the", TEXT.index("the the")), edit("beleive", "believe", 3)]}),
        reply({"scores": [0.9]}),
    )
    second = start(live, seeded)
    pipeline.execute(second)
    run = load(live, second)
    assert run.status == "succeeded", run.error
    assert run.dropped_repeats == 1
    assert [(e.original, e.replacement) for e in run.edits] == [("beleive", "believe")]
    assert run.stages[1].parsed_output["repeats"][0]["original"] == "the the"
    assert "the the" not in server.requests[2]["messages"][1]["content"].split("<document>")[0]


def test_a_malformed_answer_fails_the_run_and_keeps_the_raw_output(live, server):
    seeded = live.seed(text=TEXT, model="openai/fake", cache_enabled=False)
    garbage = "Sure! Here are my edits: beleive -> believe, and that is all."
    server.push(reply({"critiques": []}), chat_reply(garbage))
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "failed"
    assert run.error.startswith("The propose stage failed:") and "not valid JSON" in run.error
    propose = run.stages[1]
    assert propose.status == "failed" and propose.raw_output == garbage and propose.error
    assert run.stages[0].status == "succeeded" and run.edits == []


def test_an_empty_answer_fails_the_run(live, server):
    seeded = live.seed(text=TEXT, model="openai/fake", cache_enabled=False)
    server.push(chat_reply(""))
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "failed" and "empty answer" in run.error
    assert run.stages[0].status == "failed"


def test_a_model_timeout_fails_the_run(live, server):
    seeded = live.seed(text=TEXT, model="openai/fake", cache_enabled=False, timeout_seconds=0.5, max_retries=1)
    server.push(Scripted(delay=3, body={}), Scripted(delay=3, body={}))
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "failed"
    # plain words on the page, the provider's own text one click away
    assert run.error.startswith("The critique stage failed: The model did not answer within 0.5 s")
    assert "Timeout" in run.error_detail
    [critique] = run.stages
    assert critique.status == "failed" and critique.attempts == 2 and critique.error
