"""Answers to the three pipeline prompts (app.llm.prompts), as JSON text."""
from __future__ import annotations

import json

from app.llm.prompts import CONTEXT_CHARS, read_prompt
from app.llm.reviser.core import candidates, find_edits
from app.llm.reviser.critiques import find_critiques
from app.llm.reviser.instructions import Instructions


def _json_section(sections: dict[str, str], name: str) -> list:
    try:
        value = json.loads(sections.get(name) or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def instructions_for(sections: dict[str, str]) -> Instructions:
    guidelines = [g for g in _json_section(sections, "guidelines") if isinstance(g, str)]
    feedback = sections.get("feedback", "")
    return Instructions.from_text(" . ".join(guidelines + ([] if feedback == "(none)" else [feedback])))


def answer_critique(sections: dict[str, str]) -> dict:
    return {"critiques": find_critiques(sections.get("document", ""), instructions_for(sections))}


def answer_propose(sections: dict[str, str]) -> dict:
    text = sections.get("document", "")
    rejected = {
        (d.get("original"), d.get("replacement"))
        for d in _json_section(sections, "do_not_repeat") if isinstance(d, dict)
    }
    edits = []
    for e in find_edits(text, instructions_for(sections), rejected):
        edits.append({
            "original": e.original, "replacement": e.replacement, "start": e.start,
            "context_before": text[max(0, e.start - CONTEXT_CHARS):e.start],
            "context_after": text[e.end:e.end + CONTEXT_CHARS],
            "intent": e.intent, "rationale": e.rationale, "confidence": e.confidence,
        })
    return {"edits": edits}


def answer_verify(sections: dict[str, str]) -> dict:
    text = sections.get("document", "")
    # Every candidate the rules see, whatever its threshold: its measured confidence is the score.
    supported: dict[tuple[str, str], object] = {}
    for e in candidates(text)[0]:
        key = (e.original, e.replacement)
        if key not in supported or e.confidence > supported[key].confidence:
            supported[key] = e
    scores = []
    for position, cand in enumerate(_json_section(sections, "edits")):
        if not isinstance(cand, dict):
            continue
        index = cand.get("index", position)
        original, replacement = cand.get("original"), cand.get("replacement")
        if not isinstance(original, str) or not isinstance(replacement, str) or not original:
            scores.append({"index": index, "score": 0.0, "reason": "The candidate has no usable original text."})
        elif original not in text:
            scores.append({"index": index, "score": 0.0, "reason": "The original text does not occur in the document."})
        elif original == replacement:
            scores.append({"index": index, "score": 0.0, "reason": "The edit changes nothing."})
        elif (original, replacement) in supported:
            rule = supported[(original, replacement)]
            scores.append({"index": index, "score": rule.confidence,
                           "reason": f"Supported by the {rule.rule} rule."})
        else:
            scores.append({"index": index, "score": 0.5,
                           "reason": "No rule of the offline reviser supports or contradicts this edit."})
    return {"scores": scores}


_ANSWERS = {"critique": answer_critique, "propose": answer_propose, "verify": answer_verify}


def respond(messages: list[dict]) -> str:
    """The reviser's JSON answer to a prompt built by app.llm.prompts."""
    task, sections = read_prompt(messages)
    if task not in _ANSWERS:
        return json.dumps({"error": f"The offline reviser does not know the task {task!r}."})
    return json.dumps(_ANSWERS[task](sections), ensure_ascii=False)
