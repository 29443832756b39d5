"""What a candidate (model, prompt variant, temperature) proposes on one text, without any rows.

The same stages, prompts, parsing and verify threshold as the pipeline (app/runs/pipeline.py)
and the same gateway (cache, retries, model slots). `propose` is the one seam: when the chunked
pipeline lands, point it at the chunked path and replays follow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.llm import parsing, prompts
from app.llm.gateway import ModelError, ModelSettings, complete


@dataclass
class Proposal:
    edits: list[dict]
    calls: int = 0
    cached_calls: int = 0
    latency_ms: int = 0
    error: str | None = None
    stages: list[str] = field(default_factory=list)


def guidelines_with(guidelines: list[str], instructions: str) -> list[str]:
    """A prompt variant's instructions travel as the last guideline (the offline reviser reads them too)."""
    extra = (instructions or "").strip()
    return [*guidelines, extra] if extra else list(guidelines)


def propose(text: str, *, settings: ModelSettings, guidelines: list[str], feedback: str = "",
            threshold: float = 0.5, cache=None) -> Proposal:
    """critique → propose → verify on `text`; the verified candidate edits (as the pipeline keeps them)."""
    out = Proposal(edits=[])

    def call(name: str, messages: list[dict]):
        result = complete(messages, settings, json_schema=prompts.schema_for(name), cache=cache)
        out.calls += 1
        out.cached_calls += int(result.cached)
        out.latency_ms += result.latency_ms
        out.stages.append(name)
        return result

    try:
        critique = call("critique", prompts.critique_messages(text=text, guidelines=guidelines, feedback=feedback))
        critiques = parsing.parse_critiques(critique.content, text)
        proposed = call("propose", prompts.propose_messages(text=text, critiques=critiques, guidelines=guidelines,
                                                           feedback=feedback, do_not_repeat=[]))
        candidates = parsing.parse_edits(proposed.content, text).edits
        if not candidates:
            return out
        verify = call("verify", prompts.verify_messages(text=text, edits=candidates))
        scores = parsing.parse_scores(verify.content, len(candidates))
    except ModelError as exc:
        out.error = exc.message
        return out
    except parsing.ParseError as exc:
        out.error = f"unreadable answer: {exc.message}"
        return out
    for index, candidate in enumerate(candidates):
        score = scores[index] if index < len(scores) else None
        if score is not None and score < threshold:
            continue
        out.edits.append({"start": candidate["start"], "end": candidate["end"], "original": candidate["original"],
                          "replacement": candidate["replacement"], "intent": candidate.get("intent") or "other",
                          "confidence": float(candidate.get("confidence", 0.5)), "verify_score": score})
    return out
