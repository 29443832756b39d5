"""The offline reviser: Harper's grammar checker plus Emend's own rules, deterministic.

Registered with litellm as the custom provider `emend` (model `emend/offline-reviser`); it
reads the task and inputs from the prompt (app.llm.prompts) and answers the JSON contract
(docs/model-contract.md). Modules: checker (Harper, one Linter per thread), rules (Emend's),
policy (measured confidences), locale, instructions, core (the combination), critiques,
answer (the three tasks), provider (litellm). Nothing here imports litellm or harper at import.
"""
from __future__ import annotations

from app.llm.reviser.answer import respond
from app.llm.reviser.core import candidates, find_edits
from app.llm.reviser.critiques import find_critiques, split_sentences
from app.llm.reviser.instructions import Instructions
from app.llm.reviser.provider import MODEL, MODEL_NAME, PROVIDER, ensure_registered
from app.llm.reviser.rules import RuleEdit

__all__ = [
    "MODEL", "MODEL_NAME", "PROVIDER", "Instructions", "RuleEdit", "candidates", "ensure_registered",
    "find_critiques", "find_edits", "respond", "split_sentences", "warm_up",
]


def warm_up() -> None:
    """Load the spelling list and build this thread's Harper linters (call in each worker thread)."""
    from app.llm.reviser import checker, rules

    rules.checker()
    checker.warm_up()
    find_edits("A warm up sentense.")
