"""Harper's lints and Emend's rules combined: precision first.

Every candidate gets its rule's measured confidence (reviser.policy). Candidates at or above
EDIT_MIN are edits; readability and style lints, and the lints too often wrong to propose, are
critiques; spelling that only swaps locales and letters used as labels are dropped.
"""
from __future__ import annotations

import re
import threading

from app.llm.parsing import SpanSet
from app.llm.reviser import checker, policy, rules
from app.llm.reviser import locale as locales
from app.llm.reviser.instructions import Instructions
from app.llm.reviser.rules import RuleEdit

_SPELLING_KINDS = frozenset({"Spelling", "Typo", "BoundaryError"})  # "alot" -> "a lot" is spelling too
_SPELLING_RULES = frozenset({"spelling-swap", "spelling-one", "spelling-many", "spelling-far", "run-together",
                             "capitalised-typo", "apostrophe"})
_CLARITY_INTENTS = frozenset({"clarity", "style"})
_QUOTE_CHARS = re.compile("[\"'“”‘’`]")
_SENTENCE_BOUNDARY = re.compile(r"(?:^|[.!?:\n\"“(])\s*$")
_HARPER_CRITIQUES_SKIPPED: frozenset = frozenset()
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
VERY_LONG_SENTENCE_WORDS = 50

_lint_lock = threading.Lock()
_lint_cache: dict[tuple[str, str, str], list] = {}
_LINT_CACHE_SIZE = 8  # the critique, propose and verify stages of one run lint the same text


def harper_lints(text: str, locale: str, rules: str = checker.MEASURED) -> list[checker.Lint]:
    key = (text, locale, rules)
    with _lint_lock:
        hit = _lint_cache.get(key)
    if hit is not None:
        return hit
    found = checker.lint(text, locale, rules)
    with _lint_lock:
        if len(_lint_cache) >= _LINT_CACHE_SIZE:
            _lint_cache.pop(next(iter(_lint_cache)))
        _lint_cache[key] = found
    return found


def clear_cache() -> None:
    with _lint_lock:
        _lint_cache.clear()


def _is_label_article(text: str, lint: checker.Lint) -> bool:
    """"gene A is" / "type A or B": a capital letter used as a name, not the article."""
    return lint.problem in ("A", "AN") and not _SENTENCE_BOUNDARY.search(text[:lint.start])


_DROP = "drop"


def _harper_candidate(text: str, lint: checker.Lint) -> RuleEdit | str | None:
    """The lint as a candidate edit; None when it has no suggestion, _DROP when it is wrong."""
    if lint.replacement is None or lint.replacement == lint.problem:
        return None
    if locales.is_variant(lint.problem, lint.replacement) or (lint.rule == "AnA" and _is_label_article(text, lint)):
        return _DROP
    return RuleEdit(
        lint.start, lint.end, lint.problem, lint.replacement, policy.harper_intent(lint.kind),
        lint.message, policy.harper_confidence(lint.rule, lint.kind), f"harper:{lint.rule}",
    )


def candidates(text: str, instructions: Instructions = Instructions(), *,
               harper_rules: str = checker.MEASURED) -> tuple[list[RuleEdit], list[checker.Lint]]:
    """Every candidate edit with its confidence (before thresholds and overlaps), and the lints
    that have no usable edit. harper_rules=checker.ALL runs every Harper rule (to measure them)."""
    locale = locales.resolve(instructions.locale, text)
    out = []
    for edit in rules.emend_edits(text, skip_spelling=instructions.skip_spelling):
        edit.confidence = policy.emend_confidence(edit.rule)
        out.append(edit)
    rest = []
    for lint in harper_lints(text, locale, harper_rules):
        if instructions.skip_spelling and lint.kind in _SPELLING_KINDS:
            continue
        edit = _harper_candidate(text, lint)
        if edit is None:
            rest.append(lint)
        elif edit is not _DROP:
            out.append(edit)
    return out, rest


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def _allowed(edit: RuleEdit, instructions: Instructions, quoted: list[tuple[int, int]]) -> bool:
    if instructions.skip_spelling and edit.rule in _SPELLING_RULES:
        return False
    if instructions.skip_clarity and edit.intent in _CLARITY_INTENTS:
        return False
    touches_quotes = _inside(quoted, edit.start, edit.end) or _QUOTE_CHARS.search(edit.original + edit.replacement)
    return not (instructions.skip_quotes and touches_quotes)


def resolve_overlaps(edits: list[RuleEdit]) -> list[RuleEdit]:
    """Keep the higher-confidence edit of any overlapping pair, then the earlier one."""
    kept: list[RuleEdit] = []
    spans = SpanSet()
    for edit in sorted(edits, key=lambda e: (-e.confidence, e.start, e.end, e.rule)):
        if spans.overlapping(edit.start, edit.end) is None:
            spans.add(edit.start, edit.end)
            kept.append(edit)
    return sorted(kept, key=lambda e: e.start)


def find_edits(
    text: str,
    instructions: Instructions = Instructions(),
    do_not_repeat: set[tuple[str, str]] | frozenset = frozenset(),
    *,
    minimum: float = policy.EDIT_MIN,
) -> list[RuleEdit]:
    """The edits to propose: confident enough, allowed by the instructions, never a rejected
    one, non-overlapping, in document order."""
    found, _rest = candidates(text, instructions)
    quoted = rules.quoted_spans(text) if instructions.skip_quotes else []
    code = rules.code_spans(text) if "`" in text or "|" in text or "\n " in text or "\n\t" in text else []
    kept = [
        e for e in found
        if e.confidence >= minimum and _allowed(e, instructions, quoted)
        and (e.original, e.replacement) not in do_not_repeat and not _inside(code, e.start, e.end)
    ]
    return resolve_overlaps(kept)


def lint_critiques(text: str, instructions: Instructions = Instructions()) -> list[dict]:
    """Harper's readability and style lints, and the lints too unsure to be edits, as critiques."""
    found, rest = candidates(text, instructions)
    quoted = rules.quoted_spans(text) if instructions.skip_quotes else []
    fixed = SpanSet()  # a passage an edit already fixes needs no critique
    for edit in find_edits(text, instructions):
        fixed.add(edit.start, max(edit.end, edit.start + 1))
    out = []
    for edit in found:
        if fixed.overlapping(edit.start, edit.end) is not None:
            continue
        rule = edit.rule.removeprefix("harper:")
        if not edit.rule.startswith("harper:") or edit.confidence >= policy.EDIT_MIN:
            continue
        if edit.confidence < policy.CRITIQUE_MIN and edit.intent not in _CLARITY_INTENTS:
            continue
        if not _allowed(edit, instructions, quoted) or rule in _HARPER_CRITIQUES_SKIPPED:
            continue
        suggestion = f" Perhaps \"{edit.replacement}\"." if edit.replacement else " Perhaps delete it."
        out.append(_critique(edit.original, edit.start, edit.intent, edit.rationale + suggestion))
    for lint in rest:
        if fixed.overlapping(lint.start, lint.end) is not None:
            continue
        if lint.rule in _HARPER_CRITIQUES_SKIPPED or lint.replacement == lint.problem:
            continue
        if policy.harper_confidence(lint.rule, lint.kind) < policy.CRITIQUE_MIN and lint.kind not in policy.CRITIQUE_KINDS:
            continue
        if instructions.skip_clarity and lint.kind in policy.CRITIQUE_KINDS:
            continue
        if instructions.skip_quotes and _inside(quoted, lint.start, lint.end):
            continue
        if lint.kind == "Readability":
            # Harper's readability lints are critiques by nature: a long sentence is the writer's call.
            words = len(_WORD.findall(lint.problem))
            out.append({"segment": lint.problem, "start": lint.start,
                        "category": "length" if lint.rule == "LongSentences" else "readability",
                        "severity": "high" if words > VERY_LONG_SENTENCE_WORDS else "medium",
                        "text": f"{lint.message} Consider splitting it."})
            continue
        out.append(_critique(lint.problem, lint.start, policy.harper_intent(lint.kind), lint.message,
                             kind=lint.kind))
    return out


def _category(kind: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", kind).lower()


def _critique(segment: str, start: int, intent: str, text: str, kind: str | None = None) -> dict:
    category = _category(kind) if kind else ("wording" if intent in _CLARITY_INTENTS else "grammar")
    return {"segment": segment, "start": start, "category": category, "severity": "low", "text": text}
