"""The writer's own edits: a hand-typed change to the current version becomes a new version.

It spans three features, so it lives here and not in any of them: documents (the new version),
edits (the writer's change stored as edits with source "human"; the pending model edits of the
run under review carried over or superseded) and runs (the run that holds the carried edits).

Work is linear in the document's size: the change is found by trimming the common prefix and
suffix of the replaced region, and only the middle that differs (bounded) goes to difflib.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import access
from app.db import utcnow
from app.documents import service as documents
from app.errors import Conflict, Invalid
from app.events import service as events
from app.models import Edit, Run, User, Version

# Token pairs above this go as one change (difflib's matcher is quadratic in the worst case).
MAX_DIFF_CELLS = 1_000_000
_TOKEN = re.compile(r"\w+\s*|[^\w\s]\s*|\s+", re.UNICODE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


@dataclass
class HandEdit:
    version: Version
    edits: list[Edit]                      # the writer's change, on the previous version
    carried: list[Edit] = field(default_factory=list)      # new rows on the new version
    superseded: list[Edit] = field(default_factory=list)   # model edits the writer's change touched
    run: Run | None = None                 # the run holding the carried edits
    previous: dict[int, str] = field(default_factory=dict)  # superseded edit id -> its status before


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph: text between blank lines, without the breaks."""
    spans, cursor = [], 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        if m.start() > cursor:
            spans.append((cursor, m.start()))
        cursor = m.end()
    if cursor < len(text):
        spans.append((cursor, len(text)))
    return spans


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def changes(old: str, new: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, replacement) in `old` that turn it into `new`, at word level."""
    limit = min(len(old), len(new))
    p = 0
    # os.path.commonprefix would do, but this stops at the first difference without copying.
    while p < limit and old[p] == new[p]:
        p += 1
    s = 0
    while s < limit - p and old[len(old) - 1 - s] == new[len(new) - 1 - s]:
        s += 1
    # Never cut inside a word: "cat" -> "car" reads as one word changed, not "t" -> "r".
    while p > 0 and _is_word(old[p - 1]):
        p -= 1
    while s > 0 and _is_word(old[len(old) - s]):
        s -= 1
    a, b = old[p:len(old) - s], new[p:len(new) - s]
    if a == b:
        return []
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    if len(ta) * len(tb) > MAX_DIFF_CELLS:
        return [(p, len(old) - s, b)]
    out: list[tuple[int, int, str]] = []
    a_pos = [0]
    for t in ta:
        a_pos.append(a_pos[-1] + len(t))
    b_pos = [0]
    for t in tb:
        b_pos.append(b_pos[-1] + len(t))
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        start, end = a_pos[i1], a_pos[i2]
        rep = b[b_pos[j1]:b_pos[j2]]
        orig = a[start:end]
        # Tokens carry their trailing space: leave a space both sides share out of the edit.
        k = 0
        while k < min(len(orig), len(rep)) and orig[len(orig) - 1 - k] == rep[len(rep) - 1 - k] \
                and orig[len(orig) - 1 - k].isspace():
            k += 1
        out.append((p + start, p + end - k, rep[:len(rep) - k]))
    return out


def _touches(edit: Edit, start: int, end: int) -> bool:
    """Does a model edit's span meet a changed region? Empty spans meet at their boundaries too."""
    if edit.start < end and start < edit.end:
        return True
    return (edit.start == edit.end or start == end) and edit.start <= end and start <= edit.end


def _run_under_review(session: Session, version: Version) -> Run | None:
    """The writer's loop run on this version whose edits are still to be applied."""
    return session.scalars(
        select(Run).where(Run.version_id == version.id, Run.status == "succeeded", Run.applied_version_id.is_(None),
                          Run.variant == "", Run.parent_run_id.is_(None))
        .order_by(Run.created_at.desc(), Run.id.desc()).limit(1)).first()


_COPIED = ("intent", "rationale", "confidence", "verify_score", "status", "decided_replacement", "decision_source",
           "decided_by_id", "decided_at", "comment", "predicted_status", "predicted_confidence")


def edit_by_hand(session: Session, *, document_id: int, user: User, base_version_id: int, start: int, end: int,
                 text: str) -> HandEdit:
    """Replace [start, end) of the current version with the writer's `text`, as a new version.

    `base_version_id` is the version the writer saw: if another version came meanwhile, nothing is
    saved (409) rather than a change landing on text the writer did not see."""
    document, _role = access.require_document(session, user, document_id, write=True)
    session.flush()  # refresh would drop unflushed changes
    session.refresh(document, with_for_update=True)  # one hand edit at a time per document
    if document.stop_reason == "finished":
        raise Conflict("This document is marked finished; reopen it to edit it.")
    if document.current_version_id != base_version_id:
        current = session.get(Version, document.current_version_id)
        raise Conflict(f"The document has changed since you opened it (version {current.number} is current "
                       "now); reload the page and make your change again. Your text is still in the box.")
    active = session.scalar(select(Run.id).where(Run.document_id == document.id,
                                                 Run.status.in_(("queued", "running"))).limit(1))
    if active is not None:
        raise Conflict(f"Run {active} is working on this document; wait for it to finish or cancel it, "
                       "then edit.")
    base = session.get(Version, base_version_id)
    if not (0 <= start <= end <= len(base.text)):
        raise Invalid("That passage is not in the current version; reload the page.")
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    new_text = documents.clean_text(base.text[:start] + text + base.text[end:])
    found = [(start + s, start + e, r) for s, e, r in changes(base.text[start:end], text)]
    if not found:
        raise Invalid("Nothing changed: the text is as it was.")

    version = documents.add_version(session, document=document, text=new_text, depth=base.depth, actor=user,
                                    parent=base)
    now = utcnow()
    human = [Edit(run_id=None, version_id=base.id, start=s, end=e, original=base.text[s:e], replacement=r,
                  intent="other", rationale="", confidence=1.0, status="accepted", decision_source="human",
                  decided_by_id=user.id, decided_at=now, source="human", revised_version_id=version.id)
             for s, e, r in found]
    session.add_all(human)
    session.flush()
    result = HandEdit(version=version, edits=human)
    run = _run_under_review(session, base)
    if run is not None:
        _carry_over(session, result, run=run, base=base, user=user, now=now)

    previous_stop = document.stop_reason
    if previous_stop == "no_edits":  # new text: the model may have something to say about it
        document.stop_reason = None
    events.record(session, kind="version.edited", actor=user, subject=version,
                  data={"base_version_id": base.id, "number": version.number, "start": start, "end": end,
                        "edit_ids": [e.id for e in human],
                        "changes": [{"start": e.start, "end": e.end, "original": e.original,
                                     "replacement": e.replacement} for e in human],
                        "carried_to_run_id": result.run.id if result.run else None,
                        "carried": len(result.carried), "superseded_edit_ids": [e.id for e in result.superseded],
                        "previous_stop_reason": previous_stop, "stop_reason": document.stop_reason})
    return result


def _supersede(edit: Edit) -> None:
    edit.status = "superseded"
    if edit.decision_source == "ai":  # a shadow prediction (kept in predicted_status) is no decision now
        edit.decision_source = None


def _carry_over(session: Session, result: HandEdit, *, run: Run, base: Version, user: User, now) -> None:
    """Untouched edits of the run under review move to the new version (shifted); touched ones are
    superseded. One sweep over both sorted lists."""
    version = result.version
    model_edits = session.scalars(select(Edit).where(Edit.run_id == run.id, Edit.status != "superseded")
                                  .order_by(Edit.start, Edit.id)).all()
    if not model_edits:
        return
    regions = sorted(result.edits, key=lambda e: e.start)
    keep: list[tuple[Edit, int]] = []
    i, shift = 0, 0
    for edit in model_edits:
        # Regions wholly before this edit (and not meeting it) shift it by their change in length.
        while i < len(regions) and regions[i].end <= edit.start and not _touches(edit, regions[i].start,
                                                                                 regions[i].end):
            shift += len(regions[i].replacement) - (regions[i].end - regions[i].start)
            i += 1
        toucher = None
        for region in regions[i:]:
            if region.start > edit.end:
                break
            if _touches(edit, region.start, region.end):
                toucher = region
                break
        if toucher is not None:
            result.previous[edit.id] = edit.status
            _supersede(edit)
            edit.superseded_by_id = toucher.id
            edit.note = (f"Superseded: you rewrote this passage by hand in version {version.number}, "
                         "so this suggestion no longer applies.")
            result.superseded.append(edit)
        else:
            keep.append((edit, shift))
    if keep:
        carrier = Run(project_id=run.project_id, document_id=run.document_id, version_id=version.id, variant="",
                      model=run.model, params={**(run.params or {}), "carried_from_run_id": run.id},
                      status="succeeded", feedback=run.feedback, created_by_id=user.id, started_at=now,
                      finished_at=now)
        session.add(carrier)
        session.flush()
        for edit, delta in keep:
            copy = Edit(run_id=carrier.id, stage_id=None, version_id=version.id, start=edit.start + delta,
                        end=edit.end + delta, original=edit.original, replacement=edit.replacement,
                        source=edit.source, carried_from_id=edit.id, **{k: getattr(edit, k) for k in _COPIED})
            result.carried.append(copy)
        session.add_all(result.carried)
        session.flush()
        for (edit, _delta), copy in zip(keep, result.carried):
            _supersede(edit)
            edit.note = f"Carried over to version {version.number} as edit #{copy.id}: you edited another passage."
        result.run = carrier
        events.record(session, kind="edits.carried", actor=user, subject=carrier,
                      data={"from_run_id": run.id, "from_version_id": base.id, "to_version_id": version.id,
                            "carried": [[e.id, c.id] for (e, _d), c in zip(keep, result.carried)],
                            "superseded": result.previous})
    elif result.superseded:
        events.record(session, kind="edits.superseded", actor=user, subject=run,
                      data={"to_version_id": version.id, "superseded": result.previous})
    session.flush()


def pending_by_paragraph(session: Session, *, version: Version, spans: list[tuple[int, int]]) -> list[int]:
    """How many undecided model edits of the run under review fall in each paragraph span (sorted)."""
    run = _run_under_review(session, version)
    counts = [0] * len(spans)
    if run is None or not spans:
        return counts
    starts = session.scalars(select(Edit.start).where(Edit.run_id == run.id, Edit.undecided_clause(),
                                                      Edit.start >= spans[0][0], Edit.start <= spans[-1][1])
                             .order_by(Edit.start)).all()
    i = 0
    for start in starts:
        while i < len(spans) - 1 and start > spans[i][1]:
            i += 1
        counts[i] += 1
    return counts


@dataclass
class Summary:
    version: Version
    edits: int
    carried: int
    superseded: int


def summary(session: Session, *, version_id: int) -> Summary | None:
    """What a hand edit did, read back from its rows (for the page after saving)."""
    from sqlalchemy import func

    version = session.get(Version, version_id)
    if version is None:
        return None
    human = select(Edit.id).where(Edit.revised_version_id == version.id, Edit.source == "human")
    edits = session.scalar(select(func.count()).select_from(human.subquery())) or 0
    if not edits:
        return None
    carried = session.scalar(select(func.count(Edit.id)).where(Edit.version_id == version.id,
                                                               Edit.carried_from_id.is_not(None))) or 0
    superseded = session.scalar(select(func.count(Edit.id)).where(Edit.superseded_by_id.in_(human))) or 0
    return Summary(version=version, edits=edits, carried=carried, superseded=superseded)
