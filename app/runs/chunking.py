"""Split a version's text into chunks at paragraph boundaries, for a model with a small context.

Chunks are contiguous and cover the text exactly (text == "".join(text[s:e] for s, e in chunks)),
so an offset inside a chunk plus the chunk's start is a document offset. A chunk closes at the
paragraph break that keeps it at or under the size; a paragraph longer than the size alone is cut
after a sentence, else at a space, else hard. The split depends only on the text and the size, so
a resumed run finds the same chunks.
"""
from __future__ import annotations

import re

# A blank line (with optional spaces) is a paragraph break; the break stays with the paragraph before it.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+")
MIN_CHUNK_CHARS = 200


def _paragraph_ends(text: str) -> list[int]:
    ends = [m.end() for m in _PARAGRAPH_BREAK.finditer(text)]
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    return ends


def _cut_long(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """A paragraph longer than `size`, cut after sentences (or spaces) into pieces of at most `size`."""
    out = []
    while end - start > size:
        window = text[start:start + size]
        cut = None
        for m in _SENTENCE_END.finditer(window):
            if m.end() >= size // 4:  # a cut too near the start would make a crumb of a chunk
                cut = m.end()
        if cut is None:
            space = window.rfind(" ", size // 4)
            cut = space + 1 if space > 0 else size
        out.append((start, start + cut))
        start += cut
    if end > start:
        out.append((start, end))
    return out


def split(text: str, size: int) -> list[tuple[int, int]]:
    """(start, end) spans of the chunks of `text`, each at most `size` characters where it can be."""
    size = max(MIN_CHUNK_CHARS, int(size))
    if len(text) <= size:
        return [(0, len(text))]
    chunks: list[tuple[int, int]] = []
    start = cursor = 0
    for end in _paragraph_ends(text):
        if end - start <= size:
            cursor = end
            continue
        if cursor > start:  # close the chunk at the last paragraph break that fitted
            chunks.append((start, cursor))
            start = cursor
        if end - start > size:  # this paragraph alone is too long
            pieces = _cut_long(text, start, end, size)
            chunks.extend(pieces[:-1])
            start = pieces[-1][0]
        cursor = end
    if cursor > start:
        chunks.append((start, cursor))
    return chunks
