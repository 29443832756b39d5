"""The grammar checker underneath: Harper (harper-py).

A harper.Linter is not thread-safe (a call while another thread is inside one raises) and
building one costs about half a second and 50 MB, so linters live in a pool per dialect: a
call takes one for itself and gives it back, a new one is built only when every linter is in
use, so there are never more than the threads linting at once. warm_up builds the first at
worker start.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

from app.llm.reviser import locale as locales

_pool_lock = threading.Lock()
_pools: dict[tuple[str, str], list] = {}  # idle linters by (dialect, disabled rules)

# Never run: house style rather than errors, or done better (and faster) by Emend's rules.
NEVER = frozenset({
    "OxfordComma",             # inserts serial commas: a house style, not an error
    "SpellCheck",              # Emend's spelling rule is more precise; Harper's costs most of the time
    "SentenceCapitalization",  # Emend's capital rules know abbreviations and paragraphs
})
# Which rules run: "measured" (the default) runs only the rules whose precision on learner text
# earned an edit or a critique (reviser.policy), a third of the time of Harper's ~900 defaults;
# "all" runs every default rule but NEVER (bench/reviser_quality.py --rules measures with it).
MEASURED, ALL = "measured", "all"


def _enabled_config(default: dict[str, bool], rules: str) -> dict[str, bool]:
    from app.llm.reviser import policy

    if rules == ALL:
        return {name: on and name not in NEVER for name, on in default.items()}
    keep = policy.harper_rules_to_run()
    return {name: on and name in keep and name not in NEVER for name, on in default.items()}


@dataclass(frozen=True)
class Lint:
    rule: str
    kind: str
    start: int
    end: int
    problem: str
    replacement: str | None  # the first suggestion applied to `problem`; None: no suggestion
    message: str


def _dialect(locale: str):
    import harper

    return harper.Dialect.BRITISH if locale == locales.GB else harper.Dialect.AMERICAN


def _build(locale: str, rules: str):
    import harper

    lt = harper.Linter(_dialect(locale))
    lt.set_lint_config(_enabled_config(lt.get_default_lint_config(), rules))
    return lt


@contextmanager
def linter(locale: str = locales.US, rules: str = MEASURED):
    """A Linter for the locale, this caller's alone until the block ends."""
    key = (locales.GB if locale == locales.GB else locales.US, rules)
    with _pool_lock:
        idle = _pools.setdefault(key, [])
        lt = idle.pop() if idle else None
    if lt is None:
        lt = _build(*key)
    try:
        yield lt
    finally:
        with _pool_lock:
            _pools[key].append(lt)


def pool_sizes() -> dict[str, int]:
    with _pool_lock:
        return {f"{dialect}/{rules}": len(v) for (dialect, rules), v in _pools.items()}


def reset() -> None:
    """Forget every idle linter (benchmarks: Harper caches what it has seen)."""
    with _pool_lock:
        _pools.clear()


def _replacement(problem: str, suggestion) -> str:
    import harper

    if suggestion.kind == harper.SuggestionKind.REMOVE:
        return ""
    if suggestion.kind == harper.SuggestionKind.INSERT_AFTER:
        return problem + suggestion.replacement_text
    return suggestion.replacement_text


def lint(text: str, locale: str = locales.US, rules: str = MEASURED) -> list[Lint]:
    """Harper's lints of the text in document order, each with its first suggestion."""
    out = []
    with linter(locale, rules) as lt:
        organized = lt.organized_lints(text)
    for rule, lints in organized.items():
        for item in lints:
            start, end = item.span.start, item.span.end
            if end <= start:
                continue
            problem = text[start:end]
            suggestions = item.suggestions
            out.append(Lint(
                rule=rule, kind=item.lint_kind, start=start, end=end, problem=problem,
                replacement=_replacement(problem, suggestions[0]) if suggestions else None,
                message=item.message,
            ))
    out.sort(key=lambda x: (x.start, x.end, x.rule))
    return out


def warm_up() -> None:
    """Build the first American linter and pay Harper's first-call costs (British ones are
    built when a British text first arrives)."""
    with linter(locales.US) as lt:
        lt.lint("A warm up sentence with teh usual slips.")
