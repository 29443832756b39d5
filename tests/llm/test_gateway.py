"""The gateway over the real litellm HTTP path (a fake OpenAI server on 127.0.0.1) and offline."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.llm.cache import MemoryResponseCache
from app.llm.gateway import CallResult, ModelError, ModelSettings, cache_key, complete
from app.llm.parsing import ParseError, parse_critiques, parse_edits
from app.llm.prompts import critique_messages, propose_messages, schema_for
from tests.fakes.openai_server import FakeOpenAIServer, Scripted, chat_reply, error_body

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "system", "content": "TASK: propose"}, {"role": "user", "content": "<document>\nHi\n</document>"}]


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv
    assert not srv.queue, "a scripted response was never requested"


def http_settings(server, **overrides) -> ModelSettings:
    values = {"model": "openai/fake-model", "api_base": server.base_url, "timeout": 5.0,
              "max_retries": 2, "retry_base_delay": 0.01, "retry_max_delay": 0.05}
    values.update(overrides)
    return ModelSettings(**values)


def test_offline_reviser_through_litellm():
    text = "We recieve the the report in order to check it. It was written by a intern."
    result = complete(propose_messages(text=text, critiques=[], guidelines=[], feedback="", do_not_repeat=[]),
                      ModelSettings(), json_schema=schema_for("propose"))
    assert isinstance(result, CallResult)
    assert (result.model, result.attempts, result.cached, result.cost) == ("emend/offline-reviser", 1, False, 0.0)
    assert result.tokens_in > 0 and result.tokens_out > 0
    assert result.params["json_mode"] == "json_object"
    edits = parse_edits(result.content, text).edits
    assert {(e["original"], e["replacement"]) for e in edits} >= {
        ("recieve", "receive"), ("the the", "the"), ("a intern", "an intern")}
    crit = complete(critique_messages(text=text, guidelines=[], feedback=""), ModelSettings())
    assert [c["category"] for c in parse_critiques(crit.content, text)] == ["wordy", "passive-voice"]


def test_json_content_and_request_shape(server):
    server.push(chat_reply('{"edits": []}', prompt_tokens=120, completion_tokens=9))
    result = complete(MESSAGES, http_settings(server), json_schema=schema_for("propose"))
    assert result.content == '{"edits": []}'
    assert (result.tokens_in, result.tokens_out, result.attempts, result.cached) == (120, 9, 1, False)
    assert result.cost == 0.0  # litellm has no price for a local model
    assert result.latency_ms >= 0
    (request,) = server.requests
    assert request["model"] == "fake-model"
    assert request["messages"] == MESSAGES
    assert request["response_format"] == {"type": "json_object"}
    assert request["temperature"] == 0.0 and request["max_tokens"] == 2048


def test_tool_call_arguments_become_content(server):
    server.push(chat_reply(None, tool_arguments='{"edits": [{"original": "Hi", "replacement": "Hello"}]}'))
    result = complete(MESSAGES, http_settings(server), json_schema=schema_for("propose"))
    assert [e["replacement"] for e in parse_edits(result.content, "Hi").edits] == ["Hello"]


def test_rate_limit_is_retried_and_counted(server):
    server.push(Scripted(status=429, body=error_body("slow down", "rate_limit_exceeded")), chat_reply("{}"))
    result = complete(MESSAGES, http_settings(server))
    assert result.attempts == 2 and len(server.requests) == 2


def test_repeated_500s_exhaust_retries(server):
    server.push(*[Scripted(status=500, body=error_body("boom"))] * 3)
    with pytest.raises(ModelError) as exc:
        complete(MESSAGES, http_settings(server, max_retries=2))
    assert exc.value.attempts == 3 and len(server.requests) == 3
    assert "boom" in exc.value.message and exc.value.raw
    assert exc.value.latency_ms >= 0


def test_client_errors_are_not_retried(server):
    server.push(Scripted(status=400, body=error_body("bad request", "invalid_request_error")))
    with pytest.raises(ModelError) as exc:
        complete(MESSAGES, http_settings(server, max_retries=3))
    assert exc.value.attempts == 1 and len(server.requests) == 1


def test_timeout_is_honoured_quickly(server):
    server.push(Scripted(body=chat_reply("late").body, delay=3.0))
    started = time.monotonic()
    with pytest.raises(ModelError) as exc:
        complete(MESSAGES, http_settings(server, timeout=0.5, max_retries=0))
    assert time.monotonic() - started < 2.5
    assert exc.value.attempts == 1 and "Timeout" in exc.value.message


def test_timeout_then_success_is_retried(server):
    server.push(Scripted(body=chat_reply("late").body, delay=2.0), chat_reply('{"edits": []}'))
    result = complete(MESSAGES, http_settings(server, timeout=0.5, max_retries=1))
    assert result.attempts == 2 and result.content == '{"edits": []}'


def test_malformed_json_content_is_returned_then_fails_parsing(server):
    server.push(chat_reply('{"edits": [{"original": "Hi", "replacement": '))
    result = complete(MESSAGES, http_settings(server))
    with pytest.raises(ParseError):
        parse_edits(result.content, "Hi")


def test_empty_content_is_not_cached(server):
    cache = MemoryResponseCache()
    server.push(chat_reply(""), chat_reply('{"edits": []}'))
    first = complete(MESSAGES, http_settings(server), cache=cache)
    assert first.content == "" and len(cache) == 0
    with pytest.raises(ParseError, match="empty answer"):
        parse_edits(first.content, "Hi")
    second = complete(MESSAGES, http_settings(server), cache=cache)
    assert second.content == '{"edits": []}' and not second.cached


def test_cache_hits_on_identical_call(server):
    cache = MemoryResponseCache()
    server.push(chat_reply('{"edits": []}'), chat_reply('{"edits": []}'), chat_reply('{"edits": []}'))
    settings = http_settings(server)
    first = complete(MESSAGES, settings, json_schema=schema_for("propose"), cache=cache)
    second = complete(MESSAGES, settings, json_schema=schema_for("propose"), cache=cache)
    assert (first.cached, second.cached) == (False, True)
    assert second.content == first.content and second.attempts == 0
    assert (second.tokens_in, second.tokens_out, second.cost) == (0, 0, 0.0)
    assert len(server.requests) == 1
    assert second.params["cache_key"] == first.params["cache_key"]
    # Different params miss; cache=False bypasses the cache altogether.
    complete(MESSAGES, http_settings(server, temperature=0.7), json_schema=schema_for("propose"), cache=cache)
    complete(MESSAGES, http_settings(server, cache=False), json_schema=schema_for("propose"), cache=cache)
    assert len(server.requests) == 3


def test_cache_key_depends_on_model_messages_and_params():
    base = cache_key("m", MESSAGES, {"temperature": 0})
    assert len(base) == 64
    assert base == cache_key("m", [dict(m) for m in MESSAGES], {"temperature": 0})
    assert base != cache_key("n", MESSAGES, {"temperature": 0})
    assert base != cache_key("m", MESSAGES[:1], {"temperature": 0})
    assert base != cache_key("m", MESSAGES, {"temperature": 0.1})


def test_web_modules_do_not_import_litellm():
    code = ("import sys; import app.llm.gateway, app.llm.prompts, app.llm.parsing, app.llm.cache, app.llm.reviser; "
            "assert 'litellm' not in sys.modules, 'litellm imported eagerly'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_only_the_llm_package_imports_litellm():
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        if "llm" in path.relative_to(ROOT / "app").parts[:1]:
            continue
        source = path.read_text(encoding="utf-8")
        if "import litellm" in source or "from litellm" in source:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_requests_in_flight_to_one_model_are_capped(monkeypatch):
    """EMEND_MODEL_CONCURRENCY bounds a process's requests to one model; the time a call waits for
    a slot is kept apart from the model's latency."""
    from app.config import get_settings

    monkeypatch.setenv("EMEND_MODEL_CONCURRENCY", "2")
    get_settings.cache_clear()

    def slow(payload: dict) -> Scripted:
        reply = chat_reply('{"edits": []}')
        reply.delay = 0.3
        return reply

    try:
        with FakeOpenAIServer(responder=slow) as slow_server:
            settings = ModelSettings(model="openai/fake-model", api_base=slow_server.base_url, cache=False,
                                     max_retries=0)
            results: list[CallResult] = []
            threads = [threading.Thread(target=lambda: results.append(complete(MESSAGES, settings)))
                       for _ in range(5)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            timings = sorted(slow_server.timings)
    finally:
        get_settings.cache_clear()
    assert len(results) == 5
    peak = max(sum(1 for a, b in timings if a <= start < b) for start, _end in timings)
    assert peak == 2
    queued = sorted(r.params["queued_ms"] for r in results)
    assert queued[:2] == [0, 0] and queued[-1] >= 500  # the fifth call waited for two rounds
    assert all(r.latency_ms >= 300 for r in results)  # at least the model's own time
    last = max(results, key=lambda r: r.params["queued_ms"])
    assert last.latency_ms < last.params["queued_ms"] + 250  # with the wait included it would be >= wait + 300
