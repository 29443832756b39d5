"""Model errors in plain words: what went wrong and what a person can do about it.

The gateway raises ModelError with litellm's exception as its cause. `describe` turns it into a
sentence for the run page and the settings page ("OpenAI needs OPENAI_API_KEY on the worker"),
keeping the provider's own text as `detail`, shown one click away.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Provider prefix of a litellm model string → (name people know, the variable litellm reads).
PROVIDERS = {
    "openai": ("OpenAI", "OPENAI_API_KEY"),
    "text-completion-openai": ("OpenAI", "OPENAI_API_KEY"),
    "anthropic": ("Anthropic", "ANTHROPIC_API_KEY"),
    "azure": ("Azure OpenAI", "AZURE_API_KEY"),
    "gemini": ("Google Gemini", "GEMINI_API_KEY"),
    "vertex_ai": ("Google Vertex AI", "GOOGLE_APPLICATION_CREDENTIALS"),
    "mistral": ("Mistral", "MISTRAL_API_KEY"),
    "groq": ("Groq", "GROQ_API_KEY"),
    "cohere": ("Cohere", "COHERE_API_KEY"),
    "deepseek": ("DeepSeek", "DEEPSEEK_API_KEY"),
    "openrouter": ("OpenRouter", "OPENROUTER_API_KEY"),
    "together_ai": ("Together AI", "TOGETHERAI_API_KEY"),
    "fireworks_ai": ("Fireworks AI", "FIREWORKS_API_KEY"),
    "xai": ("xAI", "XAI_API_KEY"),
    "ollama": ("Ollama", None),
    "ollama_chat": ("Ollama", None),
    "hosted_vllm": ("the vLLM server", None),
}
# Bare model names litellm routes to a provider without a prefix.
_BARE_PREFIXES = (("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"), ("claude", "anthropic"))

_MISSING_KEY = re.compile(r"missing credentials|api[_ ]key (client option )?must be set|no api key|"
                          r"api_key.*(not set|missing|none)|set .*_API_KEY", re.IGNORECASE)
_UNKNOWN_MODEL = re.compile(r"LLM Provider NOT provided|model .*(not found|does not exist)|"
                            r"unknown model|no such model|model_not_found|invalid model", re.IGNORECASE)
_REFUSED = re.compile(r"connection refused|connection error|connecterror|errno 111|name or service not known|"
                      r"nodename nor servname|failed to establish", re.IGNORECASE)
_CONTEXT = re.compile(r"context length|context window|maximum context|too many tokens", re.IGNORECASE)


@dataclass
class ModelProblem:
    kind: str  # missing_key, bad_key, unknown_model, timeout, refused, rate_limited, context, server, other
    message: str  # plain words
    detail: str  # the technical text


def is_missing_key(exc: BaseException) -> bool:
    """The provider's key is not set: waiting and retrying cannot mend it."""
    return bool(_MISSING_KEY.search(str(exc)))


def provider_of(model: str) -> str | None:
    prefix, sep, _rest = model.partition("/")
    if sep:
        return prefix.lower()
    for start, provider in _BARE_PREFIXES:
        if model.lower().startswith(start):
            return provider
    return None


def _provider_words(model: str) -> tuple[str, str | None]:
    provider = provider_of(model)
    if provider in PROVIDERS:
        return PROVIDERS[provider]
    return (f"The provider of {model}" if provider else "The model's provider"), None


def _type_name(exc: BaseException) -> str:
    cause = exc.__cause__
    if cause is not None:
        return type(cause).__name__
    match = re.search(r"attempt \d+: (\w+):", str(exc))
    return match.group(1) if match else type(exc).__name__


def classify(type_name: str, text: str, status: int | None) -> str:
    name = type_name.lower()
    if "contextwindow" in name or _CONTEXT.search(text):
        return "context"
    if "authentication" in name or status == 401 or _MISSING_KEY.search(text):
        return "missing_key" if _MISSING_KEY.search(text) else "bad_key"
    if "timeout" in name or "timed out" in text.lower():
        return "timeout"
    if "ratelimit" in name or status == 429:
        return "rate_limited"
    if "notfound" in name or status == 404 or _UNKNOWN_MODEL.search(text):
        return "unknown_model"
    if "connection" in name or _REFUSED.search(text):
        return "refused"
    if status is not None and status >= 500 or any(w in name for w in ("internalserver", "serviceunavailable",
                                                                       "badgateway")):
        return "server"
    return "other"


def describe(exc: BaseException, *, model: str, api_base: str | None = None, timeout: float | None = None,
             attempts: int | None = None) -> ModelProblem:
    """Plain words for a failed model call (a gateway ModelError, or any exception)."""
    raw = getattr(exc, "raw", None) or str(exc)
    detail = getattr(exc, "message", None) or str(exc)
    if raw and raw not in detail:
        detail = f"{detail}\n{raw}"
    status = getattr(exc, "status_code", None)
    attempts = attempts if attempts is not None else getattr(exc, "attempts", None)
    tries = f" (tried {attempts} times)" if attempts and attempts > 1 else ""
    kind = classify(_type_name(exc), f"{detail} {raw}", status if isinstance(status, int) else None)
    provider, variable = _provider_words(model)
    where = f"the model server at {api_base}" if api_base else provider
    if kind == "missing_key":
        if variable:
            message = (f"{provider} needs {variable} on the worker: set it where `emend worker` or `emend serve` "
                       "runs (or EMEND_MODEL_API_KEY), then restart the worker.")
        else:
            message = f"{provider} needs an API key on the worker: set EMEND_MODEL_API_KEY and restart the worker."
    elif kind == "bad_key":
        target = variable or "EMEND_MODEL_API_KEY"
        message = f"{provider} refused the API key (HTTP 401): check {target} on the worker."
    elif kind == "unknown_model":
        if api_base or provider_of(model):
            message = (f"{where[0].upper() + where[1:]} does not know the model {model!r}: check the model string "
                       "in the project settings.")
        else:
            message = (f"litellm does not know the model string {model!r}: give it with its provider, "
                       "e.g. openai/gpt-4o-mini or anthropic/claude-3-5-haiku-latest.")
    elif kind == "timeout":
        limit = f"within {timeout:g} s" if timeout else "in time"
        message = f"The model did not answer {limit}{tries}: raise the project's timeout, or check {where}."
    elif kind == "refused":
        message = (f"Could not connect to {where}: the connection was refused or the address is unknown. "
                   "Is the server running, and is EMEND_MODEL_API_BASE right?")
    elif kind == "rate_limited":
        message = (f"{provider} is rate-limiting the requests (HTTP 429){tries}: wait a minute, or lower "
                   "EMEND_MODEL_CONCURRENCY / set EMEND_MODEL_RPM.")
    elif kind == "context":
        message = ("The prompt is longer than the model's context window: lower EMEND_CHUNK_CHARS or the "
                   "project's max tokens, or use a model with a longer context.")
    elif kind == "server":
        code = f" (HTTP {status})" if isinstance(status, int) else ""
        message = f"{where[0].upper() + where[1:]} failed with a server error{code}{tries}; try again later."
    else:
        short = " ".join(str(getattr(exc, "message", None) or exc).split())[:300]
        message = f"The model call failed: {short}"
    return ModelProblem(kind=kind, message=message, detail=detail.strip())


def model_warning(model: str) -> str | None:
    """A warning when litellm does not know the model string (called in workers: imports litellm)."""
    from app.llm.gateway import _import_litellm, is_offline

    if is_offline(model):
        return None
    litellm = _import_litellm()
    try:
        _name, provider, _key, _base = litellm.get_llm_provider(model)
    except Exception:  # noqa: BLE001 - litellm raises BadRequestError for a string it cannot route
        return (f"litellm does not know the model string {model!r}: it names no provider litellm supports "
                "(write it as provider/model, e.g. openai/gpt-4o-mini).")
    if model not in litellm.model_cost and model.partition("/")[2] not in litellm.model_cost and provider not in (
            "ollama", "ollama_chat", "hosted_vllm", "openai_like", "lm_studio", "custom_openai"):
        return (f"litellm routes {model!r} to {provider} but has no data on this model (context size, price): "
                "check its spelling; costs will show as $0.")
    return None
