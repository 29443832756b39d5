"""The litellm custom provider `emend`: `emend/offline-reviser` goes through the same gateway,
prompts and JSON contract as a hosted model."""
from __future__ import annotations

import threading

from app.llm.reviser.answer import respond

PROVIDER = "emend"
MODEL_NAME = "offline-reviser"
MODEL = f"{PROVIDER}/{MODEL_NAME}"


def _count_tokens(s: str) -> int:
    # Deterministic rough estimate (about four characters per token) so usage is never zero.
    return max(1, (len(s) + 3) // 4)


_registered = False
_register_lock = threading.Lock()


def ensure_registered() -> None:
    """Register the `emend` provider with litellm once per process (imports litellm)."""
    global _registered
    if _registered:
        return
    with _register_lock:
        if _registered:
            return
        import litellm

        handler = _make_handler(litellm)
        providers = [p for p in (litellm.custom_provider_map or []) if p.get("provider") != PROVIDER]
        litellm.custom_provider_map = providers + [{"provider": PROVIDER, "custom_handler": handler}]
        # litellm builds its provider list from custom_provider_map only when this runs.
        from litellm.utils import custom_llm_setup

        custom_llm_setup()
        _registered = True


def _make_handler(litellm):
    class OfflineReviser(litellm.CustomLLM):
        def completion(self, model, messages, *args, **kwargs):
            content = respond(messages)
            prompt = "".join(str(m.get("content") or "") for m in messages)
            tokens_in, tokens_out = _count_tokens(prompt), _count_tokens(content)
            return litellm.ModelResponse(
                model=MODEL,
                choices=[{"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": content}}],
                usage={"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                       "total_tokens": tokens_in + tokens_out},
            )

        async def acompletion(self, model, messages, *args, **kwargs):
            return self.completion(model, messages, *args, **kwargs)

    return OfflineReviser()
