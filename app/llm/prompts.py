"""Prompt builders for the three pipeline stages (critique, propose, verify).

The messages are written for a real model to read as plain instructions, and are also
machine-readable so the offline reviser can answer them: the system message starts with
`TASK: <name>`, and every input sits in its own tagged section of the user message
(`<guidelines>`, `<feedback>`, `<critiques>`, `<do_not_repeat>`, `<edits>`, then `<document>`
last). Lists are JSON blocks. `read_prompt` is the inverse used by the offline reviser.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
STAGE_SCHEMAS = {"critique": "critiques", "propose": "edits", "verify": "verify"}
CONTEXT_CHARS = 30

_ANSWER_RULES = (
    "Answer with one JSON object and nothing else: no code fences, no commentary before or after. "
    "It must match this JSON Schema:"
)

_CRITIQUE_SYSTEM = """\
TASK: critique
You are a careful editor of English prose. Read the document and point out its problems:
over-long sentences, passive voice that hides who acts, vague words, unclear structure,
and anything the guidelines or the author's feedback ask you to watch for.
Do not rewrite anything yet. For each problem quote the exact passage (`segment`, copied
verbatim from the document), give its character offset (`start`, 0-based) if you can,
a short lowercase `category`, a `severity` of low, medium or high, and the critique `text`.
If the document has no problems, answer {"critiques": []}."""

_PROPOSE_SYSTEM = """\
TASK: propose
You are a careful copy editor of English prose. Propose concrete edits to the document:
fix spelling, grammar, punctuation and spacing, and make wordy passages concise, guided by
the critiques, the guidelines and the author's feedback. The author's feedback overrides
everything else.
Each edit replaces `original`, an exact and short passage copied verbatim from the document,
with `replacement`. Give `start`, the character offset of original (0-based), and
`context_before` / `context_after`: up to 30 characters of the document right before and
after original, so the edit can be located. `intent` is one of fluency (spelling, grammar,
punctuation), clarity (wordiness, ambiguity), coherence, style, meaning-changed, other.
Add a one-sentence `rationale` and a `confidence` between 0 and 1.
Edits must not overlap. Never propose an edit listed in <do_not_repeat>: the author already
rejected it. If nothing needs changing, answer {"edits": []}."""

_VERIFY_SYSTEM = """\
TASK: verify
You are checking candidate edits to a document before they are shown to the author.
For each candidate in <edits> (identified by its `index`), judge whether applying it to the
document improves it without changing its meaning, and whether its `original` really occurs
in the document. Answer a `score` between 0 (wrong or harmful) and 1 (clearly right) and a
short `reason`, one entry per candidate."""


@lru_cache
def load_schema(name: str) -> dict:
    """A contract schema by name: "critiques", "edits" or "verify"."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


def schema_for(stage: str) -> dict:
    """The schema a stage's answer must match ("critique", "propose" or "verify")."""
    return load_schema(STAGE_SCHEMAS[stage])


def _system(body: str, schema_name: str) -> dict:
    schema = json.dumps(load_schema(schema_name), indent=1, ensure_ascii=False)
    return {"role": "system", "content": f"{body}\n\n{_ANSWER_RULES}\n<schema>\n{schema}\n</schema>"}


def _section(name: str, body: str) -> str:
    return f"<{name}>\n{body}\n</{name}>"


def _json_block(value) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False)


def part_note(part: tuple[int, int, int, int] | None) -> list[tuple[str, str]]:
    """The <part> section of a chunk's prompt: which part of a longer document this is. Offsets
    the model gives stay relative to the text in <document>; the pipeline adds the chunk's start."""
    if part is None:
        return []
    index, total, start, end = part
    return [("part", (f"This is part {index + 1} of {total} of a longer document (its characters {start}-{end}). "
                     "Work on this part only; every offset you give is counted from the start of <document> below."))]


def _user(sections: list[tuple[str, str]], text: str) -> dict:
    # The document goes last so that read_prompt can take everything up to the final closing tag.
    parts = [_section(name, body) for name, body in sections]
    parts.append(_section("document", text))
    return {"role": "user", "content": "\n\n".join(parts)}


def critique_messages(*, text: str, guidelines: list[str], feedback: str,
                      part: tuple[int, int, int, int] | None = None) -> list[dict]:
    return [
        _system(_CRITIQUE_SYSTEM, "critiques"),
        _user(
            [
                ("guidelines", _json_block(list(guidelines))),
                ("feedback", feedback.strip() or "(none)"),
                *part_note(part),
            ],
            text,
        ),
    ]


def propose_messages(
    *,
    text: str,
    critiques: list[dict],
    guidelines: list[str],
    feedback: str,
    do_not_repeat: list[dict],
    part: tuple[int, int, int, int] | None = None,
) -> list[dict]:
    critiques_view = [
        {k: c[k] for k in ("segment", "start", "category", "severity", "text") if c.get(k) is not None}
        for c in critiques
    ]
    rejected = [{"original": d["original"], "replacement": d["replacement"]} for d in do_not_repeat]
    return [
        _system(_PROPOSE_SYSTEM, "edits"),
        _user(
            [
                ("guidelines", _json_block(list(guidelines))),
                ("feedback", feedback.strip() or "(none)"),
                ("critiques", _json_block(critiques_view)),
                ("do_not_repeat", _json_block(rejected)),
                *part_note(part),
            ],
            text,
        ),
    ]


def verify_messages(*, text: str, edits: list[dict], part: tuple[int, int, int, int] | None = None) -> list[dict]:
    candidates = []
    for index, edit in enumerate(edits):
        item = {"index": index, "original": edit["original"], "replacement": edit["replacement"]}
        for key in ("start", "intent", "rationale"):
            if edit.get(key) is not None:
                item[key] = edit[key]
        candidates.append(item)
    return [_system(_VERIFY_SYSTEM, "verify"), _user([("edits", _json_block(candidates)), *part_note(part)], text)]


_TASK_RE = re.compile(r"^\s*TASK:\s*([a-z_-]+)", re.IGNORECASE)


def read_prompt(messages: list[dict]) -> tuple[str | None, dict[str, str]]:
    """Inverse of the builders: (task name, {section name: raw body}).

    JSON sections are returned as text; the caller decodes the ones it needs.
    """
    task = None
    user_parts = []
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):  # OpenAI content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if message.get("role") == "system" and task is None:
            match = _TASK_RE.match(content)
            if match:
                task = match.group(1).lower()
        elif message.get("role") == "user":
            user_parts.append(content)
    body = "\n\n".join(user_parts)
    sections: dict[str, str] = {}
    doc_open = body.find("<document>\n")
    doc_close = body.rfind("\n</document>")
    head = body
    if doc_open != -1 and doc_close >= doc_open:
        # The document may itself contain tag-like text: take it whole, up to the last closing tag.
        sections["document"] = body[doc_open + len("<document>\n"):doc_close]
        head = body[:doc_open]
    for match in re.finditer(r"<([a-z_]+)>\n(.*?)\n</\1>", head, re.DOTALL):
        sections.setdefault(match.group(1), match.group(2))
    return task, sections
