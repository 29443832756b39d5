"""What the reviser understands from the guidelines and the author's feedback."""
from __future__ import annotations

import re
from dataclasses import dataclass

from app.llm.reviser import locale as locales

_NEG = r"(?:don't|do not|never|no need to|please don't|stop)"
_SPELLING = re.compile(
    rf"\b(?:ignore|skip|leave|{_NEG} (?:fix|change|correct|touch)|no) (?:the |my |any )?spellings?\b")
_QUOTES = re.compile(
    rf"\b{_NEG}( \w+)? (?:change|touch|edit|modify|alter|fix)( \w+)? (?:the )?(?:quotes|quotations?|quoted)"
    r"|\b(?:leave|keep|ignore|skip) (?:the )?(?:quotes|quotations?|quoted)")
_INFORMAL = re.compile(
    r"\bkeep (?:it|the (?:text|tone)|this|my tone) (?:informal|casual|conversational|chatty)"
    rf"|\b{_NEG} (?:fix|change|touch|cut|reduce) (?:the )?(?:wordiness|wordy|style)"
    r"|\bignore (?:the )?(?:wordiness|style)|\binformal (?:tone|style) is (?:fine|ok|intended)")
_GB = re.compile(r"\b(?:en-gb|british (?:english|spellings?)|uk (?:english|spellings?))\b")
_US = re.compile(r"\b(?:en-us|american (?:english|spellings?)|us (?:english|spellings?))\b")


@dataclass(frozen=True)
class Instructions:
    skip_spelling: bool = False
    skip_quotes: bool = False
    skip_clarity: bool = False  # no wordiness or style edits ("keep it informal")
    locale: str = locales.AUTO

    @classmethod
    def from_text(cls, text: str, locale: str = locales.AUTO) -> Instructions:
        t = " ".join(text.lower().replace("’", "'").split())
        said_gb, said_us = bool(_GB.search(t)), bool(_US.search(t))
        if said_gb != said_us:  # an instruction naming one locale wins over the setting
            locale = locales.GB if said_gb else locales.US
        return cls(
            skip_spelling=bool(_SPELLING.search(t)),
            skip_quotes=bool(_QUOTES.search(t)),
            skip_clarity=bool(_INFORMAL.search(t)),
            locale=locale if locale in locales.LOCALES else locales.AUTO,
        )
