"""A version's text with a stage's critiques or edits marked at their spans, cut down to the
passages around the marks for long texts (a 200,000-character version shows a few kilobytes).

Critiques may overlap each other, so the text is cut at every span boundary and each piece
carries the marks covering it; edits never overlap (the parser keeps them apart)."""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

WHOLE_BELOW = 6_000  # texts shorter than this are shown whole
AROUND = 200  # characters of context each side of a mark
MAX_CHARS = 40_000  # characters shown at most, over all passages
MAX_MARKS = 300
LONG_PIECE = 1_500  # a longer piece (a long critiqued paragraph) shows its head and tail
PIECE_END = 600


@dataclass(frozen=True)
class Mark:
    kind: str  # "critique" or "edit"
    item_id: int
    number: int  # 1-based, as in the stage's list
    start: int
    end: int
    title: str
    replacement: str | None = None  # edits: the proposed text


@dataclass
class Piece:
    text: str
    marks: list[Mark] = field(default_factory=list)
    ends: list[Mark] = field(default_factory=list)  # marks whose span ends with this piece
    cut: bool = False  # the middle of a long piece is left out


@dataclass
class Passage:
    start: int
    end: int
    pieces: list[Piece]


@dataclass
class Context:
    passages: list[Passage]
    whole: bool
    length: int  # the version's length
    marks: int  # marks shown
    not_shown: int  # marks left out (limits)
    unplaced: int  # items with no span in the text (critiques of the whole text)

    @property
    def before(self) -> bool:
        return bool(self.passages) and self.passages[0].start > 0

    @property
    def after(self) -> bool:
        return bool(self.passages) and self.passages[-1].end < self.length


def critique_marks(critiques) -> list[Mark]:
    return [Mark("critique", c.id, n, c.start, c.end, f"{c.category} · {c.severity}: {c.text}")
            for n, c in enumerate(critiques, 1)]


def edit_marks(edits) -> list[Mark]:
    return [Mark("edit", e.id, n, e.start, e.end, f"{e.intent}: {e.rationale or e.replacement}", e.replacement)
            for n, e in enumerate(edits, 1)]


def _snap_left(text: str, pos: int) -> int:
    """Start a passage at a word boundary (a space within 30 characters before pos)."""
    if pos <= 0:
        return 0
    space = text.rfind(" ", max(0, pos - 30), pos)
    newline = text.rfind("\n", max(0, pos - 30), pos)
    best = max(space, newline)
    return best + 1 if best != -1 else pos


def _snap_right(text: str, pos: int) -> int:
    if pos >= len(text):
        return len(text)
    found = [i for i in (text.find(" ", pos, pos + 30), text.find("\n", pos, pos + 30)) if i != -1]
    return min(found) if found else pos


def _pieces(text: str, start: int, end: int, marks: list[Mark], shorten: bool) -> list[Piece]:
    cuts = {start, end}
    for m in marks:
        cuts.add(max(start, m.start))
        cuts.add(min(end, m.end))
    points = sorted(cuts)
    out: list[Piece] = []
    for a, b in pairwise(points):
        if a == b:
            continue
        covering = [m for m in marks if m.start <= a and m.end >= b]
        piece = Piece(text[a:b], covering, [m for m in covering if m.end == b])
        if shorten and len(piece.text) > LONG_PIECE:
            piece.text = piece.text[:PIECE_END] + "\u2002…\u2002" + piece.text[-PIECE_END:]
            piece.cut = True
        out.append(piece)
    return out


def highlight(text: str, marks: list[Mark], *, around: int = AROUND, max_chars: int = MAX_CHARS,
              max_marks: int = MAX_MARKS, whole_below: int = WHOLE_BELOW) -> Context:
    """The passages of text around the marks (or the whole text, when short), marks placed."""
    n = len(text)
    placed = sorted((m for m in marks if 0 <= m.start < m.end <= n), key=lambda m: (m.start, m.end))
    unplaced = len(marks) - len(placed)
    shown, dropped = placed[:max_marks], len(placed) - min(len(placed), max_marks)
    if n <= whole_below:
        return Context([Passage(0, n, _pieces(text, 0, n, shown, False))] if n else [], True, n, len(shown),
                       dropped, unplaced)
    # Windows around each mark, merged where they touch.
    windows: list[list] = []  # [start, end, marks]
    for m in shown:
        ws, we = _snap_left(text, m.start - around), _snap_right(text, m.end + around)
        if windows and ws <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], we)
            windows[-1][2].append(m)
        else:
            windows.append([ws, we, [m]])
    passages: list[Passage] = []
    used = 0
    for ws, we, ms in windows:
        pieces = _pieces(text, ws, we, ms, True)
        size = sum(len(p.text) for p in pieces)
        if passages and used + size > max_chars:
            break
        passages.append(Passage(ws, we, pieces))
        used += size
    marked = sum(len(w[2]) for w in windows[:len(passages)])
    return Context(passages, False, n, marked, len(placed) - marked, unplaced)


def stage_contexts(trace) -> dict[int, Context]:
    """Per stage of a trace, its critiques or edits on the version's text."""
    text = trace.run.version.text
    out: dict[int, Context] = {}
    for stage in trace.stages:
        marks = critique_marks(trace.critiques_by_stage.get(stage.id, []))
        marks += edit_marks(trace.edits_by_stage.get(stage.id, []))
        if marks:
            out[stage.id] = highlight(text, marks)
    return out
