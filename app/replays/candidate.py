"""What a candidate (model, prompt variant, temperature) proposes on one logged text, without any rows.

The pipeline's own path (app/runs/pipeline.py `propose_text`): the same chunks at paragraph breaks,
stages, prompts, parsing, document offsets and verify threshold as a run, through the same unit
loop and gateway (cache, retries, model slots). `propose` is the seam tests replace.
"""
from __future__ import annotations

from app.llm.gateway import ModelSettings
from app.runs.pipeline import Proposal, propose_text

__all__ = ["Proposal", "guidelines_with", "propose"]


def guidelines_with(guidelines: list[str], instructions: str) -> list[str]:
    """A prompt variant's instructions travel as the last guideline (the offline reviser reads them too)."""
    extra = (instructions or "").strip()
    return [*guidelines, extra] if extra else list(guidelines)


def propose(text: str, *, settings: ModelSettings, guidelines: list[str], feedback: str = "",
            threshold: float = 0.5, cache=None, chunk_chars: int | None = None) -> Proposal:
    """critique → propose → verify on every chunk of `text`; the verified candidate edits, in
    document offsets, as a run would keep them."""
    return propose_text(text, settings=settings, guidelines=guidelines, feedback=feedback, threshold=threshold,
                        cache=cache, chunk_chars=chunk_chars)
