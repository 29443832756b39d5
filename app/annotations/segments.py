"""A version viewed as steps (sentences, lines or paragraphs), labelled PRM800K-style."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from app.errors import Invalid
from app.models import SEGMENT_UNITS

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Segment:
    index: int
    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd  # imported lazily: building its rules takes a moment

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def _trimmed(text: str, spans: list[tuple[int, int]]) -> list[Segment]:
    out: list[Segment] = []
    for start, end in spans:
        piece = text[start:end]
        stripped = piece.strip()
        if not stripped:
            continue
        lead = len(piece) - len(piece.lstrip())
        s = start + lead
        out.append(Segment(index=len(out), start=s, end=s + len(stripped), text=stripped))
    return out


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    # pysbd treats a paragraph break as part of a sentence's trailing space; split paragraphs
    # first so that a heading without a full stop never merges into the next sentence.
    spans = []
    for para_start, para_end in _paragraph_spans(text):
        for span in _segmenter().segment(text[para_start:para_end]):
            spans.append((para_start + span.start, para_start + span.end))
    return spans


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    return spans


def split(text: str, unit: str) -> list[Segment]:
    """The steps of a text, trimmed of surrounding whitespace, with their character spans."""
    if unit not in SEGMENT_UNITS:
        raise Invalid(f"Unknown segment unit {unit!r}; use one of {', '.join(SEGMENT_UNITS)}.")
    spans = {"sentence": _sentence_spans, "line": _line_spans, "paragraph": _paragraph_spans}[unit](text)
    return _trimmed(text, spans)


def first_error(labels: dict[int, int | None]) -> int | None:
    """The index of the first step labelled −1, or None."""
    bad = [step for step, label in labels.items() if label == -1]
    return min(bad) if bad else None


def asked_steps(count: int, labels: dict[int, int | None], *, stop_at_first_error: bool) -> list[bool]:
    """Which steps are asked: all of them, or (PRM800K) none after the first −1."""
    stop = first_error(labels) if stop_at_first_error else None
    return [stop is None or index <= stop for index in range(count)]
