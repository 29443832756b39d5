"""The model gateway: the one place that calls litellm.

Every stage of every run calls `complete`. It adds what litellm leaves to the caller: our own
retry loop (so attempts are counted and visible), JSON mode where the model supports it,
token and cost accounting, and a response cache keyed by (model, messages, params).

litellm is imported lazily (it takes seconds to import) so the web process starts fast.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.llm import errors, limits

if TYPE_CHECKING:
    from app.llm.cache import ResponseCache

log = logging.getLogger(__name__)

DEFAULT_MODEL = "emend/offline-reviser"
# Models served by OpenAI-compatible servers accept any key; the client library insists on one.
_OPENAI_COMPATIBLE_PREFIXES = ("openai/", "hosted_vllm/", "lm_studio/", "openai_like/", "text-completion-openai/")
_DUMMY_API_KEY = "sk-no-key-required"


@dataclass
class ModelSettings:
    model: str = DEFAULT_MODEL
    temperature: float = 0.0
    max_tokens: int = 2048
    timeout: float = 60.0  # seconds, per attempt
    max_retries: int = 3  # retries after the first attempt
    cache: bool = True
    api_base: str | None = None
    retry_base_delay: float = 0.5  # seconds; doubled per retry, with jitter
    retry_max_delay: float = 8.0


@dataclass
class CallResult:
    content: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    latency_ms: int
    attempts: int
    cached: bool
    params: dict = field(default_factory=dict)


class ModelError(Exception):
    """The call failed: retries exhausted, or an error retrying cannot fix (bad key, bad request)."""

    def __init__(self, message: str, *, attempts: int, raw: str | None = None, latency_ms: int = 0,
                 status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.raw = raw
        self.latency_ms = latency_ms
        self.status_code = status_code


def _slot(settings: ModelSettings) -> limits.Slot:
    """A slot of the model endpoint's limits: EMEND_MODEL_CONCURRENCY requests in flight (and
    EMEND_MODEL_RPM a minute, if set), across all workers when the broker is Redis. Workers run more
    threads than that, so a run's database work between stages overlaps other runs' model calls."""
    from app.config import get_settings

    config = get_settings()
    redis_url = config.broker_url if config.broker_url.startswith(("redis://", "rediss://")) else None
    shape = {"concurrency": config.model_concurrency, "per_minute": config.model_rpm}
    shared = limits.for_model(settings.model, settings.api_base, redis_url=redis_url, **shape)
    local = limits.for_model(settings.model, settings.api_base, redis_url=None, **shape)
    # A holder that died frees its slot after the lease: longer than any one attempt can take.
    return limits.Slot(shared, settings.timeout + 30, local)


def _import_litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Provider List" banners in worker logs
    from app.llm.reviser import ensure_registered

    ensure_registered()
    return litellm


def warm_up() -> None:
    """Pay litellm's import (5-10 s), the reviser's dictionary load and its first grammar
    checker's construction before the first run."""
    _import_litellm()
    from app.llm import reviser

    reviser.warm_up()


def is_offline(model: str) -> bool:
    return model.startswith("emend/")


def cache_key(model: str, messages: list[dict], params: dict) -> str:
    payload = json.dumps({"model": model, "messages": messages, "params": params},
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _provider(litellm, model: str) -> str | None:
    try:
        return litellm.get_llm_provider(model)[1]
    except Exception:  # noqa: BLE001 - unknown model strings are litellm's to reject at call time
        return None


def _response_format(litellm, model: str, json_schema: dict | None) -> dict | None:
    """The strongest JSON mode litellm says the model supports, or None (prompt-only)."""
    if json_schema is None:
        return None
    if is_offline(model):
        return {"type": "json_object"}
    provider = _provider(litellm, model)
    try:
        if litellm.supports_response_schema(model=model, custom_llm_provider=provider):
            # Schema keywords such as $schema/$id are rejected by some providers.
            schema = {k: v for k, v in json_schema.items() if not k.startswith("$")}
            name = "".join(c if c.isalnum() else "_" for c in str(json_schema.get("title", "answer")))[:64]
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
    except Exception:
        log.debug("supports_response_schema failed for %s", model, exc_info=True)
    try:
        supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider) or []
    except Exception:  # noqa: BLE001 - no capability data means prompt-only JSON
        supported = []
    return {"type": "json_object"} if "response_format" in supported else None


def _api_key(settings: ModelSettings) -> str | None:
    from app.config import get_settings

    key = get_settings().model_api_key
    if key:
        return key
    if settings.api_base and settings.model.startswith(_OPENAI_COMPATIBLE_PREFIXES) and not os.environ.get(
            "OPENAI_API_KEY"):
        return _DUMMY_API_KEY
    return None  # litellm reads the provider's usual variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...)


def _retryable(litellm, exc: Exception) -> bool:
    if errors.is_missing_key(exc):  # litellm reports a missing key as a server error: no retry mends it
        return False
    if isinstance(exc, (litellm.Timeout, litellm.APIConnectionError, litellm.RateLimitError,
                        litellm.InternalServerError, litellm.ServiceUnavailableError, litellm.BadGatewayError)):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None) or getattr(
        getattr(exc, "response", None), "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def _backoff(settings: ModelSettings, attempt: int, exc: Exception) -> float:
    delay = min(settings.retry_max_delay, settings.retry_base_delay * 2 ** (attempt - 1))
    delay *= random.uniform(0.5, 1.0)  # jitter: parallel workers do not retry in lockstep
    hinted = _retry_after(exc)
    if hinted is not None:
        delay = max(delay, min(hinted, settings.retry_max_delay))
    return delay


def _content(response) -> str:
    message = response.choices[0].message
    content = message.content or ""
    tool_calls = getattr(message, "tool_calls", None)
    if not content.strip() and tool_calls:
        # Some providers (and litellm's json_schema emulation) answer through a tool call.
        content = tool_calls[0].function.arguments or ""
    return content


def _cost(litellm, model: str, response) -> float:
    if is_offline(model):
        return 0.0
    try:
        return float(litellm.completion_cost(completion_response=response, model=model) or 0.0)
    except Exception:  # noqa: BLE001 - models without a price (local servers) cost nothing we know of
        return 0.0


def _error_text(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:500]


def complete(
    messages: list[dict],
    settings: ModelSettings,
    *,
    json_schema: dict | None = None,
    cache: ResponseCache | None = None,
) -> CallResult:
    """Call the model once (with retries) and return its answer and accounting."""
    litellm = _import_litellm()  # seconds on first use: not the model's latency
    started = time.monotonic()
    response_format = _response_format(litellm, settings.model, json_schema)
    key_params = {"temperature": settings.temperature, "max_tokens": settings.max_tokens,
                  "response_format": response_format, "api_base": settings.api_base}
    params = {**key_params, "timeout": settings.timeout, "max_retries": settings.max_retries,
              "json_mode": (response_format or {}).get("type", "prompt") if json_schema else None}
    key = cache_key(settings.model, messages, key_params)
    params["cache_key"] = key

    use_cache = cache is not None and settings.cache
    if use_cache:
        hit = cache.get(key)
        if hit is not None and isinstance(hit.get("content"), str):
            return CallResult(
                content=hit["content"], model=settings.model, tokens_in=0, tokens_out=0, cost=0.0,
                latency_ms=int((time.monotonic() - started) * 1000), attempts=0, cached=True, params=params,
            )

    kwargs = {
        "model": settings.model,
        "messages": messages,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "timeout": settings.timeout,
        "num_retries": 0,  # we retry ourselves, to count attempts and control backoff
        "max_retries": 0,  # and the OpenAI client must not retry behind our back either
        "drop_params": True,  # e.g. reasoning models that reject temperature
    }
    if response_format is not None:
        kwargs["response_format"] = response_format
    if settings.api_base:
        kwargs["api_base"] = settings.api_base
    api_key = _api_key(settings)
    if api_key:
        kwargs["api_key"] = api_key

    attempts = 0
    total_attempts = 1 + max(0, settings.max_retries)
    slot = None if is_offline(settings.model) else _slot(settings)  # the offline reviser runs in-process
    queued = 0.0  # seconds spent waiting for a free slot: not the model's latency
    while True:
        attempts += 1
        try:
            if slot is None:
                response = litellm.completion(**kwargs)
            else:
                with slot:
                    response = litellm.completion(**kwargs)
                queued += slot.waited
            break
        except Exception as exc:  # litellm maps every provider error onto its exception types
            retry = _retryable(litellm, exc)
            if not retry or attempts >= total_attempts:
                latency = int((time.monotonic() - started - queued) * 1000)
                reason = "gave up after" if retry else "failed on"
                raise ModelError(
                    f"Model {settings.model} {reason} attempt {attempts}: {type(exc).__name__}: {_error_text(exc)}",
                    attempts=attempts, raw=str(exc), latency_ms=latency,
                    status_code=getattr(exc, "status_code", None),
                ) from exc
            time.sleep(_backoff(settings, attempts, exc))

    content = _content(response)
    usage = getattr(response, "usage", None)
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
    tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
    params["served_model"] = getattr(response, "model", None)
    params["queued_ms"] = int(queued * 1000)
    result = CallResult(
        content=content, model=settings.model, tokens_in=tokens_in, tokens_out=tokens_out,
        cost=_cost(litellm, settings.model, response),
        latency_ms=int((time.monotonic() - started - queued) * 1000), attempts=attempts, cached=False, params=params,
    )
    if use_cache and content.strip():  # an empty answer is a failure worth retrying later, not caching
        cache.put(key, settings.model, {"content": content, "tokens_in": tokens_in, "tokens_out": tokens_out,
                                        "cost": result.cost})
    return result
