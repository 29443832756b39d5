"""Model errors in plain words, over the real litellm path, with the provider's text kept."""
from __future__ import annotations

import json

import pytest

from app.llm import errors
from app.llm.gateway import ModelError, ModelSettings, complete
from tests.fakes.openai_server import FakeOpenAIServer, Scripted, error_body
from tests.helpers import free_port

HI = [{"role": "user", "content": "Say hi."}]


def _problem(model: str, **settings) -> errors.ModelProblem:
    config = ModelSettings(model=model, max_retries=0, timeout=settings.pop("timeout", 5), cache=False, **settings)
    with pytest.raises(ModelError) as caught:
        complete(HI, config)
    return errors.describe(caught.value, model=model, api_base=config.api_base, timeout=config.timeout)


def test_missing_keys_name_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    openai = _problem("openai/gpt-4o-mini")
    assert openai.kind == "missing_key"
    assert openai.message.startswith("OpenAI needs OPENAI_API_KEY on the worker")
    assert "OPENAI_API_KEY" in openai.detail or "api_key" in openai.detail.lower()  # litellm's own words
    assert _problem("anthropic/claude-3-5-haiku-latest").message.startswith(
        "Anthropic needs ANTHROPIC_API_KEY on the worker")


def test_unknown_model_string():
    problem = _problem("no-such-provider-model")
    assert problem.kind == "unknown_model"
    assert "litellm does not know the model string 'no-such-provider-model'" in problem.message
    assert "LLM Provider NOT provided" in problem.detail


def test_connection_refused():
    base = f"http://127.0.0.1:{free_port()}/v1"
    problem = _problem("openai/fake", api_base=base)
    assert problem.kind == "refused" and f"Could not connect to the model server at {base}" in problem.message


@pytest.mark.parametrize(("scripted", "kind", "words"), [
    (Scripted(status=429, body=error_body("slow down", "rate_limit_error")), "rate_limited", "rate-limiting"),
    (Scripted(status=404, body=error_body("The model `gpt-9` does not exist", "invalid_request_error")),
     "unknown_model", "does not know the model 'openai/gpt-9'"),
    (Scripted(status=401, body=error_body("Incorrect API key provided", "invalid_request_error")),
     "bad_key", "refused the API key"),
    (Scripted(delay=2, body={}), "timeout", "did not answer within 0.5 s"),
])
def test_server_errors(scripted, kind, words):
    with FakeOpenAIServer() as server:
        server.push(scripted)
        problem = _problem("openai/gpt-9", api_base=server.base_url, timeout=0.5)
    assert problem.kind == kind, problem
    assert words in problem.message
    assert problem.detail  # the raw text, one click away on the pages
    json.dumps(problem.__dict__)  # storable as is


def test_a_missing_key_is_not_retried(monkeypatch):
    """litellm reports "Missing credentials" as a server error; the gateway gives up at once."""
    from app.llm import gateway

    litellm = gateway._import_litellm()
    exc = litellm.InternalServerError("OpenAIException - Missing credentials. Please pass an `api_key`.",
                                      llm_provider="openai", model="gpt-4o-mini")
    assert not gateway._retryable(litellm, exc)
    assert gateway._retryable(litellm, litellm.InternalServerError("upstream hiccup", llm_provider="openai",
                                                                  model="gpt-4o-mini"))
