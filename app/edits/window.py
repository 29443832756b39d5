"""The review page in windows: a page of edits in the list and a section of the text at a time.

A run of 2,000 edits on a 200,000-character document would be a 2 MB page; the page shows the
sections and edits around the writer and htmx fetches the rest as they move. Sections are cut at
paragraph breaks (never inside an edit) from the edits' spans alone, so every request computes
the same cuts in linear time.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.errors import Invalid, NotFound
from app.models import INTENTS, Document, Edit, Run, User, Version

PAGE_EDITS = 50  # rows of the edit list per window
PAGE_TEXT_CHARS = 40_000  # text drawn with the page around the first window's edits (sections)
SECTION_CHARS = 6_000  # a text section closes at the first paragraph break after this many characters
SECTION_EDITS = 60  # ... or after this many edits
CONTEXT_CHARS = 40  # context shown each side of an edit in the list
STATUSES = ("pending", "accepted", "rejected", "modified")

_BREAK = re.compile(r"\n+")
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
_SIGNS = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥"})


@dataclass(frozen=True)
class EditFilter:
    """Filters of the edit list (and of accept / reject the filtered set)."""
    intents: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    min_confidence: float | None = None
    max_confidence: float | None = None

    @classmethod
    def parse(cls, *, intents=(), statuses=(), min_confidence=None, max_confidence=None) -> EditFilter:
        intents = tuple(i for i in (intents or ()) if i)
        statuses = tuple(s for s in (statuses or ()) if s)
        unknown = [i for i in intents if i not in INTENTS]
        if unknown:
            raise Invalid(f"Unknown intent {unknown[0]!r}; use one of {', '.join(INTENTS)}.")
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise Invalid(f"Unknown status {unknown[0]!r}; use one of {', '.join(STATUSES)}.")
        bounds = []
        for value in (min_confidence, max_confidence):
            if value in (None, ""):
                bounds.append(None)
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise Invalid("Confidence is a number between 0 and 1.") from None
            if not 0.0 <= number <= 1.0:
                raise Invalid("Confidence is a number between 0 and 1.")
            bounds.append(number)
        return cls(intents=intents, statuses=statuses, min_confidence=bounds[0], max_confidence=bounds[1])

    @property
    def active(self) -> bool:
        return bool(self.intents or self.statuses or self.min_confidence is not None
                    or self.max_confidence is not None)

    def apply(self, query: Select) -> Select:
        if self.intents:
            query = query.where(Edit.intent.in_(self.intents))
        if self.statuses:
            decided = [s for s in self.statuses if s != "pending"]
            clause = Edit.status.in_(decided) & (Edit.decision_source.is_(None) | (Edit.decision_source != "ai"))
            if "pending" in self.statuses:
                clause = clause | Edit.undecided_clause()
            query = query.where(clause)
        if self.min_confidence is not None:
            query = query.where(Edit.confidence >= self.min_confidence)
        if self.max_confidence is not None:
            query = query.where(Edit.confidence <= self.max_confidence)
        return query

    def query_string(self) -> str:
        params = [("intent", i) for i in self.intents] + [("status", s) for s in self.statuses]
        if self.min_confidence is not None:
            params.append(("min_confidence", f"{self.min_confidence:g}"))
        if self.max_confidence is not None:
            params.append(("max_confidence", f"{self.max_confidence:g}"))
        return urlencode(params)


NO_FILTER = EditFilter()


def sections(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The text cut into sections (start, end) at line breaks outside every edit span, each closed
    once it holds SECTION_CHARS characters or SECTION_EDITS edits. `spans` sorted by start."""
    starts = [s for s, _e in spans]
    ends = [e for _s, e in spans]
    # A running maximum of the ends: a cut at p is inside an edit when some edit starting before p
    # ends after it.
    reach, top = [], 0
    for end in ends:
        top = max(top, end)
        reach.append(top)
    cuts = []
    last = 0
    length = len(text)

    def inside(p: int) -> bool:
        k = bisect.bisect_left(starts, p)
        return k > 0 and reach[k - 1] > p

    def candidates():
        previous = 0
        for match in _BREAK.finditer(text):
            p = match.end()
            # A very long paragraph (or a text without breaks) is cut at spaces too.
            while p - previous > 2 * SECTION_CHARS:
                space = text.find(" ", previous + SECTION_CHARS, p)
                if space == -1:
                    break
                previous = space + 1
                yield previous
            previous = p
            yield p
        while length - previous > 2 * SECTION_CHARS:
            space = text.find(" ", previous + SECTION_CHARS)
            if space == -1:
                break
            previous = space + 1
            yield previous

    for p in candidates():
        if p >= length:
            break
        edits_in = bisect.bisect_left(starts, p) - bisect.bisect_left(starts, last)
        if (p - last >= SECTION_CHARS or edits_in >= SECTION_EDITS) and not inside(p):
            cuts.append((last, p))
            last = p
    cuts.append((last, length))
    return cuts


def section_of(bounds: list[tuple[int, int]], position: int) -> int:
    return max(0, bisect.bisect_right([s for s, _e in bounds], position) - 1)


@dataclass
class Line:
    """One edit as a line of the compact list: a few words each side, the change made visible."""
    edit: Edit
    before: str
    old: str
    new: str
    after: str
    section: int

    @property
    def old_shown(self) -> str:
        return visible_edges(self.old)

    @property
    def new_shown(self) -> str:
        return visible_edges(self.new)


def visible_edges(value: str) -> str:
    """Whitespace at either end of a changed piece drawn as signs (a deleted space before a comma
    must not read as nothing); whitespace inside it stays as it is."""
    if not value:
        return value
    core = value.strip()
    if not core:
        return value.translate(_SIGNS)
    lead = value[:len(value) - len(value.lstrip())]
    trail = value[len(value.rstrip()):]
    return lead.translate(_SIGNS) + core + trail.translate(_SIGNS)


def _context_before(text: str, start: int, base: int = 0) -> str:
    lo = max(0, start - CONTEXT_CHARS)
    piece = text[lo - base:start - base]
    if lo > 0:
        cut = re.search(r"\s", piece)
        piece = "…" + (piece[cut.end():] if cut else piece)
    return piece.replace("\n", " ")


def _context_after(text: str, end: int, base: int = 0, length: int | None = None) -> str:
    length = len(text) + base if length is None else length
    hi = min(length, end + CONTEXT_CHARS)
    piece = text[end - base:hi - base]
    if hi < length:
        cut = [m.start() for m in re.finditer(r"\s", piece)]
        piece = (piece[:cut[-1]] if cut else piece) + "…"
    return piece.replace("\n", " ")


def line_for(text: str, edit: Edit, section: int | None = 0, *, base: int = 0, length: int | None = None) -> Line:
    """`text` is the edit's version text, or the part of it from offset `base` around the edit
    (then `length` is the whole text's length)."""
    shown = edit.decided_replacement if edit.status == "modified" else edit.replacement
    old_tokens, new_tokens = _TOKEN.findall(edit.original), _TOKEN.findall(shown or "")
    # Tokens both sides share at the ends move into the context: "the the → the" reads "the ␣the".
    pre = 0
    while pre < min(len(old_tokens), len(new_tokens)) and old_tokens[pre] == new_tokens[pre]:
        pre += 1
    suf = 0
    while (suf < min(len(old_tokens), len(new_tokens)) - pre
           and old_tokens[-1 - suf] == new_tokens[-1 - suf]):
        suf += 1
    head = "".join(old_tokens[:pre])
    tail = "".join(old_tokens[len(old_tokens) - suf:]) if suf else ""
    old = "".join(old_tokens[pre:len(old_tokens) - suf])
    new = "".join(new_tokens[pre:len(new_tokens) - suf])
    before = _context_before(text, edit.start, base) + head
    after = tail + _context_after(text, edit.end, base, length)
    return Line(edit=edit, before=before, old=old, new=new, after=after, section=section)


def line_of(session: Session, edit: Edit, section: int | None = None) -> Line:
    """One edit's line, reading only the text around it (the decision hot path)."""
    lo = max(0, edit.start - CONTEXT_CHARS)
    hi = edit.end + CONTEXT_CHARS
    snippet, length = session.execute(select(func.substr(Version.text, lo + 1, hi - lo), func.length(Version.text))
                                      .where(Version.id == edit.version_id)).one()
    return line_for(snippet, edit, section, base=lo, length=length)


def filtered(run_id: int, edit_filter: EditFilter) -> Select:
    return edit_filter.apply(select(Edit).where(Edit.run_id == run_id)).order_by(Edit.start, Edit.id)


def count_filtered(session: Session, *, run_id: int, edit_filter: EditFilter) -> int:
    query = edit_filter.apply(select(func.count()).select_from(Edit).where(Edit.run_id == run_id))
    return session.scalar(query) or 0


def spans_of(session: Session, run_id: int) -> list[tuple[int, int]]:
    """The run's edit spans in text order (tuples, not ORM objects: cheap for 2,000 edits)."""
    return [tuple(row) for row in session.execute(select(Edit.start, Edit.end).where(Edit.run_id == run_id)
                                                  .order_by(Edit.start, Edit.id))]


@dataclass
class ListWindow:
    lines: list[Line]
    total: int  # edits matching the filter
    offset: int
    next_offset: int | None
    edit_filter: EditFilter


def list_window(session: Session, *, run: Run, text: str, bounds: list[tuple[int, int]],
                edit_filter: EditFilter = NO_FILTER, offset: int = 0, limit: int = PAGE_EDITS) -> ListWindow:
    offset = max(0, offset)
    edits = list(session.scalars(filtered(run.id, edit_filter).offset(offset).limit(limit + 1)))
    more = len(edits) > limit
    edits = edits[:limit]
    total = count_filtered(session, run_id=run.id, edit_filter=edit_filter) if (offset or more) else len(edits)
    lines = [line_for(text, e, section_of(bounds, e.start)) for e in edits]
    return ListWindow(lines=lines, total=total, offset=offset, next_offset=offset + limit if more else None,
                      edit_filter=edit_filter)


@dataclass
class Section:
    index: int
    start: int
    end: int
    pieces: list | None  # None: not loaded yet (a placeholder the page fetches when it comes into view)


def section_edits(session: Session, *, run_id: int, start: int, end: int) -> list[Edit]:
    return list(session.scalars(select(Edit).where(Edit.run_id == run_id, Edit.start >= start, Edit.start < end)
                                .order_by(Edit.start, Edit.id)))


@dataclass
class RunView:
    """A run under review, for the window fragments."""
    run: Run
    document: Document
    version: Version
    can_write: bool
    decidable: bool
    bounds: list[tuple[int, int]]


def run_view(session: Session, *, run_id: int, user: User) -> RunView:
    row = session.execute(select(Run, Document).join(Document, Document.id == Run.document_id)
                          .where(Run.id == run_id)).one_or_none()
    if row is None:
        raise NotFound("No such run.")
    run, document = row.tuple()
    _doc, role = access.require_document(session, user, document.id)
    version = session.get(Version, run.version_id)
    can_write = document.owner_id == user.id or role == "admin"
    decidable = (run.status == "succeeded" and run.applied_version_id is None
                 and document.current_version_id == run.version_id)
    return RunView(run=run, document=document, version=version, can_write=can_write, decidable=decidable,
                   bounds=sections(version.text, spans_of(session, run.id)))
