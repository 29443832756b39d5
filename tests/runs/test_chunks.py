"""Long documents run in chunks: document offsets, resuming only missing units, concurrency."""
from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from app.config import get_settings
from app.llm import reviser
from app.models import Critique, Edit, RunChunk, Stage
from app.runs import chunking, pipeline
from tests.fakes.openai_server import FakeOpenAIServer, chat_reply
from tests.runs.test_pipeline import load, start

PARAGRAPH = ("In part {n} of the survey we beleive that the the river rose quickly after the storm. "
             "The volunteers measured the flow at three points along the bank every morning, and they "
             "wrote down what they saw in a notebook that was kept dry in a box.")


def long_text(paragraphs: int = 6) -> str:
    return "\n\n".join(PARAGRAPH.format(n=n) for n in range(paragraphs))


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of about two paragraphs (the default fits an 8k-token model, far larger than these)."""
    monkeypatch.setenv("EMEND_CHUNK_CHARS", "600")
    get_settings.cache_clear()
    yield 600
    get_settings.cache_clear()


def _part(payload_messages: list[dict]) -> tuple[str, int | None]:
    """(task, chunk index) of a prompt, read from its TASK line and its <part> note."""
    system = payload_messages[0]["content"]
    user = payload_messages[-1]["content"]
    task = re.match(r"TASK: (\w+)", system).group(1)
    match = re.search(r"This is part (\d+) of \d+", user)
    return task, int(match.group(1)) - 1 if match else None


def test_split_covers_the_text_at_paragraph_breaks():
    text = long_text(6)
    chunks = chunking.split(text, 600)
    assert len(chunks) == 3
    assert "".join(text[s:e] for s, e in chunks) == text
    for lo, hi in chunks:
        assert hi - lo <= 600
        assert lo == 0 or text[lo - 2:lo] == "\n\n"  # each chunk starts a paragraph
    # A single paragraph longer than the size is cut after a sentence.
    one = " ".join(["This sentence is short enough."] * 50)
    pieces = chunking.split(one, 300)
    assert "".join(one[s:e] for s, e in pieces) == one and all(e - s <= 300 for s, e in pieces)
    assert all(one[e - 2:e] == ". " for _s, e in pieces[:-1])
    assert chunking.split("short", 600) == [(0, 5)]


def test_a_multi_chunk_run_gives_edits_at_document_offsets(live, small_chunks):
    text = long_text(6)
    seeded = live.seed(text=text)
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "succeeded", run.error
    assert run.chunk_count == 3 and run.params["chunk_chars"] == 600
    assert [(s.name, s.status) for s in run.stages] == [
        ("critique", "succeeded"), ("propose", "succeeded"), ("verify", "succeeded")]
    for edit in run.edits:
        assert text[edit.start:edit.end] == edit.original
    misspelt = sorted(e.start for e in run.edits if (e.original, e.replacement) == ("beleive", "believe"))
    assert misspelt == [m.start() for m in re.finditer("beleive", text)]  # one per paragraph, every chunk
    doubled = sorted(e.start for e in run.edits if e.original == "the the")
    assert doubled == [m.start() for m in re.finditer("the the", text)]
    with live.session() as s:
        units = s.scalars(select(RunChunk).where(RunChunk.run_id == run_id)).all()
        assert sorted((u.position, u.chunk) for u in units) == [(p, c) for p in range(3) for c in range(3)]
        assert all(u.status == "succeeded" and u.tokens_in > 0 for u in units)
        stages = {st.position: st for st in s.scalars(select(Stage).where(Stage.run_id == run_id))}
        # the stage's accounting is the sum of its chunks; its output is the merged, document-level one
        assert stages[1].tokens_in == sum(u.tokens_in for u in units if u.position == 1)
        assert len(stages[1].parsed_output["edits"]) == len(stages[2].parsed_output["scores"])
        for critique in s.scalars(select(Critique).where(Critique.run_id == run_id)):
            if critique.end > critique.start:
                assert text[critique.start:critique.end] == critique.segment
        prompts = [u.messages[-1]["content"] for u in units if u.position == 1]
    assert all("This is part" in p for p in prompts)
    assert max(len(p.split("<document>\n", 1)[1]) for p in prompts) < 700  # a chunk, not the document


class Crash(BaseException):
    """Stands for the worker process dying (not an Exception: nothing may catch it)."""


def test_a_killed_run_resumes_only_the_missing_chunks(live, small_chunks, monkeypatch):
    text = long_text(6)
    seeded = live.seed(text=text, cache_enabled=False)
    run_id = start(live, seeded)
    real_complete = pipeline.complete
    calls: list[tuple[str, int | None]] = []
    lock = threading.Lock()

    def dying_complete(messages, settings, **kwargs):
        unit = _part(messages)
        with lock:
            calls.append(unit)
        if unit == ("propose", 1):
            raise Crash
        return real_complete(messages, settings, **kwargs)

    monkeypatch.setattr(pipeline, "complete", dying_complete)
    with pytest.raises(Crash):
        pipeline.execute(run_id)
    with live.session() as s:
        done_before = {(u.position, u.chunk) for u in s.scalars(
            select(RunChunk).where(RunChunk.run_id == run_id, RunChunk.status == "succeeded"))}
    assert (1, 1) not in done_before and (0, 1) in done_before
    assert load(live, run_id).status == "running"

    calls.clear()
    monkeypatch.setattr(pipeline, "complete", lambda m, st, **kw: (calls.append(_part(m)),
                                                                    real_complete(m, st, **kw))[1])
    pipeline.execute(run_id)  # the next delivery

    names = ("critique", "propose", "verify")
    missing = {(names[p], c) for p in range(3) for c in range(3)} - {(names[p], c) for p, c in done_before}
    assert sorted(calls) == sorted(missing)  # every missing unit once, nothing done again
    run = load(live, run_id)
    assert run.status == "succeeded", run.error
    with live.session() as s:
        assert s.scalar(select(func.count(Stage.id)).where(Stage.run_id == run_id)) == 3
        assert s.scalar(select(func.count(RunChunk.id)).where(RunChunk.run_id == run_id)) == 9
        critiques = s.scalar(select(func.count(Critique.id)).where(Critique.run_id == run_id))
        assert critiques == len(run.stages[0].parsed_output["critiques"])
        edits = s.execute(select(Edit.start, Edit.original).where(Edit.run_id == run_id)).all()
    assert len(set(edits)) == len(edits) == len(run.edits) > 0
    assert sorted(e.start for e in run.edits if e.original == "beleive") == [
        m.start() for m in re.finditer("beleive", text)]


def test_chunks_run_concurrently_within_the_model_slots(live, small_chunks, monkeypatch):
    text = long_text(16)  # 8 chunks
    lock = threading.Lock()
    in_flight = {"now": 0, "peak": 0}

    def slow_reviser(payload):
        with lock:
            in_flight["now"] += 1
            in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        try:
            threading.Event().wait(0.3)
            return chat_reply(reviser.respond(payload["messages"]))
        finally:
            with lock:
                in_flight["now"] -= 1

    with FakeOpenAIServer(responder=slow_reviser) as server:
        monkeypatch.setenv("EMEND_MODEL_API_BASE", server.base_url)
        monkeypatch.setenv("EMEND_MODEL_CONCURRENCY", "4")
        get_settings.cache_clear()
        seeded = live.seed(text=text, model="openai/fake", cache_enabled=False)
        run_id = start(live, seeded)
        pipeline.execute(run_id)
        requests = len(server.requests)
    run = load(live, run_id)
    assert run.status == "succeeded", run.error
    assert run.chunk_count == 8 and requests == 24
    assert in_flight["peak"] == 4  # as many as the model's slots, never more
    assert sorted(e.start for e in run.edits if e.original == "beleive") == [
        m.start() for m in re.finditer("beleive", text)]
