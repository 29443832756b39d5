"""Documents and their immutable versions."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.config import get_settings
from app.db import utcnow
from app.documents import diffing
from app.errors import Conflict, Invalid, NotFound
from app.events import service as events
from app.models import Document, Edit, Feedback, Guideline, Run, User, Version
from app.runs.progress import chunk_progress


def clean_text(text: str) -> str:
    """Normalise line endings (offsets must mean the same everywhere) and check the size."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise Invalid("The document is empty. Paste or upload some text.")
    limit = get_settings().max_document_chars
    if len(text) > limit:
        raise Invalid(f"The document has {len(text):,} characters; the limit is {limit:,}. Split it into parts.")
    return text


def add_version(session: Session, *, document: Document, text: str, depth: int, actor: User | None,
                parent: Version | None = None, source_run: Run | None = None,
                restored_from: Version | None = None) -> Version:
    """Append a version and make it the document's current one."""
    number = (session.scalar(select(func.max(Version.number)).where(Version.document_id == document.id)) or 0) + 1
    version = Version(
        document_id=document.id, number=number, depth=depth, parent_id=parent.id if parent else None,
        source_run_id=source_run.id if source_run else None,
        restored_from_id=restored_from.id if restored_from else None,
        text=text, text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        created_by_id=actor.id if actor else None,
    )
    session.add(version)
    session.flush()
    document.current_version_id = version.id
    document.current_version = version
    document.updated_at = utcnow()
    return version


def create_document(session: Session, *, project_id: int, title: str, text: str, actor: User) -> Document:
    access.require_project(session, actor, project_id, roles=("writer", "admin"))
    text = clean_text(text)
    title = (title or "").strip() or text.strip().splitlines()[0][:80]
    document = Document(project_id=project_id, owner_id=actor.id, title=title[:300])
    session.add(document)
    session.flush()
    version = add_version(session, document=document, text=text, depth=0, actor=actor)
    events.record(session, kind="document.created", actor=actor, subject=document,
                  data={"version_id": version.id, "chars": len(text), "title": document.title})
    return document


def upload_text(filename: str, data: bytes) -> str:
    """The text of an uploaded .txt / .md file (UTF-8), or a clear error."""
    name = (filename or "").lower()
    if not name.endswith((".txt", ".md")):
        raise Invalid("Upload a .txt or .md file.")
    limit = get_settings().max_upload_bytes
    if len(data) > limit:
        raise Invalid(f"The file is larger than {limit:,} bytes.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"The file is not UTF-8 text (byte {exc.start} cannot be read). "
                      "Save it as UTF-8 and upload it again.") from None


def get_version(session: Session, *, version_id: int, user: User) -> Version:
    version = session.get(Version, version_id)
    if version is None:
        raise NotFound("No such version.")
    access.require_document(session, user, version.document_id)
    return version


def list_versions(session: Session, *, document_id: int, user: User) -> tuple[Document, list[Version]]:
    """A document's versions, newest first (without loading texts twice: one query)."""
    document, _role = access.require_document(session, user, document_id)
    versions = session.scalars(select(Version).where(Version.document_id == document.id)
                               .order_by(Version.number.desc())).all()
    return document, list(versions)


def latest_run(session: Session, *, document_id: int) -> Run | None:
    return session.scalars(select(Run).where(Run.document_id == document_id)
                           .order_by(Run.created_at.desc(), Run.id.desc()).limit(1)).first()


def restore_version(session: Session, *, version_id: int, user: User) -> Version:
    """Copy an old version's text into a new current version; the loop may go on from there."""
    old = session.get(Version, version_id)
    if old is None:
        raise NotFound("No such version.")
    document, _role = access.require_document(session, user, old.document_id, write=True)
    if document.current_version_id == old.id:
        raise Conflict("This is already the current version.")
    active = session.scalar(select(Run.id).where(Run.document_id == document.id,
                                                 Run.status.in_(("queued", "running"))).limit(1))
    if active is not None:
        raise Conflict("A run is working on this document; wait for it to finish or cancel it first.")
    current = session.get(Version, document.current_version_id)
    version = add_version(session, document=document, text=old.text, depth=old.depth, actor=user,
                          parent=current, restored_from=old)
    previous_stop = document.stop_reason
    document.stop_reason = None
    events.record(session, kind="version.restored", actor=user, subject=version,
                  data={"restored_from_id": old.id, "restored_from_number": old.number,
                        "previous_version_id": current.id if current else None, "previous_stop_reason": previous_stop})
    return version


Diff = diffing.TextDiff


def diff_versions(a_text: str, b_text: str, *, a_label: str = "a", b_label: str = "b") -> Diff:
    """Word-level opcodes for inline rendering and a line-level unified diff, paragraph-anchored
    so the work grows linearly with the texts (app/documents/diffing.py)."""
    return diffing.diff_texts(a_text, b_text, a_label=a_label, b_label=b_label)


# Versions never change, so the diff of two is computed once for the page and each of its
# windows; a few recent ones are kept (a large document's diff holds about twice its text).
_DIFF_CACHE_SIZE = 8
_diff_cache: OrderedDict[tuple, Diff] = OrderedDict()
_diff_cache_lock = threading.Lock()


def version_diff(a: Version, b: Version) -> Diff:
    # The texts are in the key too: ids can come again in another database (tests) or after a delete.
    key = (a.id, b.id, hash(a.text), hash(b.text))
    with _diff_cache_lock:
        if key in _diff_cache:
            _diff_cache.move_to_end(key)
            return _diff_cache[key]
    result = diff_versions(a.text, b.text, a_label=f"version {a.number}", b_label=f"version {b.number}")
    with _diff_cache_lock:
        _diff_cache[key] = result
        while len(_diff_cache) > _DIFF_CACHE_SIZE:
            _diff_cache.popitem(last=False)
    return result


def set_auto_repeat(session: Session, *, document_id: int, user: User, enabled: bool) -> Document:
    document, _role = access.require_document(session, user, document_id, write=True)
    if document.auto_repeat != enabled:
        document.auto_repeat = enabled
        events.record(session, kind="document.auto_repeat_set", actor=user, subject=document,
                      data={"auto_repeat": enabled})
    return document


def add_feedback(session: Session, *, document_id: int, run_id: int | None, text: str, user: User,
                 save_as: str | None = None) -> Feedback:
    """Free-text feedback on a run; the next run receives it. Optionally saved as a guideline for
    all later runs in a scope (this document or the project)."""
    document, _role = access.require_document(session, user, document_id, write=True)
    text = (text or "").strip()
    if not text:
        raise Invalid("The feedback is empty.")
    _check_scope(save_as)
    if run_id is not None:
        run = session.get(Run, run_id)
        if run is None or run.document_id != document.id:
            raise NotFound("No such run for this document.")
    feedback = Feedback(document_id=document.id, run_id=run_id, user_id=user.id, text=text)
    session.add(feedback)
    session.flush()
    events.record(session, kind="feedback.given", actor=user, subject=feedback, project_id=document.project_id,
                  run_id=run_id, data={"text": text, "save_as": save_as or None})
    if save_as:
        save_guideline(session, document=document, feedback=feedback, text=text, scope=save_as, user=user)
    return feedback


def _check_scope(save_as: str | None) -> None:
    if save_as not in (None, "", "document", "project"):
        raise Invalid("Save a guideline for this document or for the project.")


def save_guideline(session: Session, *, document: Document, feedback: Feedback | None, text: str, scope: str,
                   user: User) -> Guideline:
    guideline = Guideline(project_id=document.project_id, document_id=document.id if scope == "document" else None,
                          feedback_id=feedback.id if feedback else None, text=text, created_by_id=user.id)
    session.add(guideline)
    session.flush()
    events.record(session, kind="guideline.saved", actor=user, subject=guideline, document_id=document.id,
                  run_id=feedback.run_id if feedback else None,
                  data={"text": text, "scope": scope, "feedback_id": feedback.id if feedback else None})
    return guideline


def unused_feedback(session: Session, *, document_id: int) -> list[Feedback]:
    """Feedback given since the last run started (through add_feedback), not yet sent to a run."""
    session.flush()
    return list(session.scalars(select(Feedback).where(Feedback.document_id == document_id,
                                                       Feedback.used_by_run_id.is_(None))
                                .order_by(Feedback.created_at, Feedback.id)))


def start_next_run(session: Session, *, document_id: int, user: User, feedback: str = "") -> Run:
    """Start the next pass, steered by the feedback given since the last one (and `feedback`, new text)."""
    from app.runs import service as runs  # the runs feature imports documents; import at call time

    earlier = unused_feedback(session, document_id=document_id)
    texts = [f.text for f in earlier] + ([feedback.strip()] if feedback.strip() else [])
    # start_run keeps the text it receives as the run's feedback (and logs feedback.given for it).
    run = runs.start_run(session, document_id=document_id, user=user, feedback="\n".join(texts))
    for row in earlier:
        row.used_by_run_id = run.id
    return run


def revise_again(session: Session, *, document_id: int, user: User, feedback: str = "",
                 save_as: str | None = None, override: bool = False) -> Run:
    """The writer's "Revise again" (or first run): the feedback steers this run; saved as a guideline,
    it steers every later run of the document or project too.

    With `override`, a loop that stopped (no more edits, maximum depth) goes on anyway: the stop is
    lifted for this run and the override is logged. A finished document is reopened first."""
    feedback = (feedback or "").strip()
    _check_scope(save_as)
    if save_as and not feedback:
        raise Invalid("Write the feedback to save as a guideline.")
    overridden = None
    if override:
        document, _role = access.require_document(session, user, document_id, write=True)
        if document.stop_reason == "finished":
            raise Conflict("This document is marked finished; reopen it to revise it again.")
        overridden = document.stop_reason
        document.stop_reason = None
    run = start_next_run(session, document_id=document_id, user=user, feedback=feedback)
    if overridden:
        events.record(session, kind="loop.overridden", actor=user, subject=run,
                      data={"stop_reason": overridden, "version_id": run.version_id})
    if save_as:
        session.flush()
        row = session.scalar(select(Feedback).where(Feedback.used_by_run_id == run.id)
                             .order_by(Feedback.id.desc()).limit(1))
        document = session.get(Document, document_id)
        save_guideline(session, document=document, feedback=row, text=feedback, scope=save_as, user=user)
    return run


def guidelines_for(session: Session, *, document: Document) -> list[Guideline]:
    """Active guidelines that apply to this document: its own and the project's."""
    return list(session.scalars(
        select(Guideline).where(Guideline.project_id == document.project_id, Guideline.active.is_(True),
                                or_(Guideline.document_id.is_(None), Guideline.document_id == document.id))
        .order_by(Guideline.created_at, Guideline.id)))


STOP_MESSAGES = {
    "no_edits": "Stopped: the model proposed no more edits.",
    "max_depth": "Stopped: maximum depth {max_depth} reached.",
    "finished": "Finished: you marked this document finished.",
}


def stop_message(document: Document) -> str | None:
    if document.stop_reason is None:
        return None
    return STOP_MESSAGES.get(document.stop_reason, "Stopped: {reason}.").format(
        max_depth=document.project.max_depth, reason=document.stop_reason)


def inline_pieces(text: str, edits: list, *, start: int = 0, end: int | None = None
                  ) -> list[tuple[str | None, Edit | None]]:
    """The text from `start` to `end` cut around the edit spans in it: (text, None) and (None, edit)
    pairs in reading order.

    Templates print every piece with autoescaping; nothing here is marked safe."""
    end = len(text) if end is None else end
    pieces: list[tuple[str | None, Edit | None]] = []
    cursor = start
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start < cursor or edit.start >= end:  # never happens for a verified run; keep the text readable
            continue
        if edit.start > cursor:
            pieces.append((text[cursor:edit.start], None))
        pieces.append((None, edit))
        cursor = edit.end
    if cursor < end:
        pieces.append((text[cursor:end], None))
    return pieces


@dataclass
class Review:
    """Everything the writer's document page shows."""
    document: Document
    role: str
    version: Version
    run: Run | None
    # "none" (no run yet / nothing to decide), "active", "review", "failed", "cancelled", "applied", "empty"
    state: str
    edits: list  # the edits on the page: the list's first window (the rest come as the writer moves)
    pieces: list  # the text pieces of the sections on the page
    counts: dict
    stop_message: str | None
    can_write: bool
    guidelines: list
    sections: list = field(default_factory=list)  # window.Section, loaded or placeholders
    window: object | None = None  # window.ListWindow of the edit list
    progress: object | None = None  # runs.progress.Progress while the run works

    @property
    def can_revise(self) -> bool:
        # A run under review is applied first; its version is then the one the next run revises.
        return (self.can_write and self.document.stop_reason is None
                and self.state in ("none", "applied", "failed", "cancelled"))


def review(session: Session, *, document_id: int, user: User, edit_filter=None) -> Review:
    """The document page: current version, its latest run and a window of the run's edits (the
    list's first page and the text sections it touches): bounded work whatever the run's size."""
    from app.edits import service as edits_service
    from app.edits import window

    session.flush()
    document, role = access.require_document(session, user, document_id)
    version = session.get(Version, document.current_version_id)
    run = latest_run(session, document_id=document.id)
    counts: dict = {}
    state = "none"
    if run is not None:
        if run.status in ("queued", "running"):
            state = "active"
        elif run.applied_version_id is not None:
            state = "applied"
        elif run.version_id != version.id:
            state = "none"  # a run on a version that a restore superseded
        elif run.status in ("failed", "cancelled"):
            state = run.status
        else:
            counts = edits_service.run_counts(session, run_id=run.id)
            state = "review" if any(counts.get(s) for s in counts if s not in ("total", "to_apply")) else "empty"
    can_write = document.owner_id == user.id or role == "admin"
    sections: list = []
    pieces: list = []
    listing = None
    edits: list = []
    if state == "review":
        bounds = window.sections(version.text, window.spans_of(session, run.id))
        listing = window.list_window(session, run=run, text=version.text, bounds=bounds,
                                     edit_filter=edit_filter or window.NO_FILTER)
        edits = [line.edit for line in listing.lines]
        shown = [line.section for line in listing.lines] or [0]
        lo, last = min(shown), max(shown)
        # The sections of the list's first edits, up to a budget of text: where edits are sparse,
        # a page of them can span most of the document. The others load as they come into view.
        hi = lo
        while hi < last and bounds[hi + 1][1] - bounds[lo][0] <= window.PAGE_TEXT_CHARS:
            hi += 1
        loaded = window.section_edits(session, run_id=run.id, start=bounds[lo][0], end=bounds[hi][1])
        for index, (start, end) in enumerate(bounds):
            section_pieces = None
            if lo <= index <= hi:
                section_pieces = inline_pieces(version.text, loaded, start=start, end=end)
                pieces.extend(section_pieces)
            sections.append(window.Section(index=index, start=start, end=end, pieces=section_pieces))
    else:
        pieces = inline_pieces(version.text, [])
        sections = [window.Section(index=0, start=0, end=len(version.text), pieces=pieces)]
    return Review(document=document, role=role, version=version, run=run, state=state, edits=edits,
                  pieces=pieces, counts=counts, stop_message=stop_message(document), can_write=can_write,
                  guidelines=guidelines_for(session, document=document), sections=sections, window=listing,
                  progress=chunk_progress(session, run) if state == "active" else None)


def active_run_progress(session: Session, *, document_id: int, user: User):
    """(run, progress) while the document's latest run works, else None: what the review block's
    once-a-second poll needs, without reading the text."""
    access.require_document(session, user, document_id)
    run = latest_run(session, document_id=document_id)
    if run is None or run.status not in ("queued", "running"):
        return None
    return run, chunk_progress(session, run)


# --- the writer's own controls: finish and reopen, critiques, the clean read view -----------------

def _no_active_run(session: Session, document: Document) -> None:
    active = session.scalar(select(Run.id).where(Run.document_id == document.id,
                                                 Run.status.in_(("queued", "running"))).limit(1))
    if active is not None:
        raise Conflict(f"Run {active} is working on this document; wait for it to finish or cancel it first.")


def finish_document(session: Session, *, document_id: int, user: User) -> Document:
    """Mark the document finished: no run starts (auto-repeat neither) until the writer reopens it."""
    document, _role = access.require_document(session, user, document_id, write=True)
    if document.stop_reason == "finished":
        return document
    _no_active_run(session, document)
    previous = document.stop_reason
    document.stop_reason = "finished"
    document.finished_at = utcnow()
    events.record(session, kind="document.finished", actor=user, subject=document,
                  data={"version_id": document.current_version_id, "previous_stop_reason": previous})
    return document


def _stop_reason_now(session: Session, document: Document) -> str | None:
    """Why the loop would stand still at the current version if nobody had finished it."""
    version = session.get(Version, document.current_version_id)
    if version.depth >= document.project.max_depth:
        return "max_depth"
    last = session.scalars(select(Run).where(Run.version_id == version.id, Run.variant == "",
                                             Run.parent_run_id.is_(None))
                           .order_by(Run.created_at.desc(), Run.id.desc()).limit(1)).first()
    if last is not None and last.status == "succeeded" and last.applied_version_id is None:
        has_edits = session.scalar(select(Edit.id).where(Edit.run_id == last.id).limit(1))
        if has_edits is None:
            return "no_edits"
    return None


def reopen_document(session: Session, *, document_id: int, user: User) -> Document:
    """Undo "finished": the loop is where it was (stopped again if it had stopped)."""
    document, _role = access.require_document(session, user, document_id, write=True)
    if document.stop_reason != "finished":
        raise Conflict("This document is not marked finished.")
    document.stop_reason = _stop_reason_now(session, document)
    document.finished_at = None
    events.record(session, kind="document.reopened", actor=user, subject=document,
                  data={"version_id": document.current_version_id, "stop_reason": document.stop_reason})
    return document


def writer_critiques(session: Session, *, document: Document, version: Version) -> list:
    """The critiques of the latest loop run on this version that the writer has not answered, in
    reading order: the passages the model found weak (their spans are in this version's text)."""
    from app.models import Critique

    session.flush()  # sessions do not autoflush: answers given in this request must count
    run_id = session.scalar(select(Run.id).where(Run.version_id == version.id, Run.status == "succeeded",
                                                 Run.variant == "", Run.parent_run_id.is_(None))
                            .order_by(Run.created_at.desc(), Run.id.desc()).limit(1))
    if run_id is None:
        return []
    return list(session.scalars(select(Critique).where(Critique.run_id == run_id, Critique.writer_status.is_(None))
                                .order_by(Critique.start, Critique.position)))


def _critique_for_write(session: Session, critique_id: int, user: User):
    from app.models import Critique

    critique = session.get(Critique, critique_id)
    run = session.get(Run, critique.run_id) if critique is not None else None
    if run is None:
        raise NotFound("No such critique.")
    document, _role = access.require_document(session, user, run.document_id, write=True)
    if critique.writer_status is not None:
        raise Conflict(f"This critique was already {critique.writer_status}.")
    return critique, run, document


def address_critique(session: Session, *, critique_id: int, user: User, note: str = "") -> Feedback:
    """"Address this": the critique becomes the writer's feedback for the next run."""
    critique, run, document = _critique_for_write(session, critique_id, user)
    passage = " ".join(critique.segment.split())
    if len(passage) > 160:
        passage = passage[:157] + "..."
    text = f"Address this {critique.category} problem ({critique.severity}) in \"{passage}\": {critique.text}"
    if (note or "").strip():
        text += f" {note.strip()}"
    feedback = add_feedback(session, document_id=document.id, run_id=run.id, text=text, user=user)
    critique.writer_status = "addressed"
    events.record(session, kind="critique.addressed", actor=user, subject=critique, project_id=run.project_id,
                  document_id=document.id, run_id=run.id, data={"feedback_id": feedback.id, "text": text})
    return feedback


def dismiss_critique(session: Session, *, critique_id: int, user: User):
    critique, run, document = _critique_for_write(session, critique_id, user)
    critique.writer_status = "dismissed"
    events.record(session, kind="critique.dismissed", actor=user, subject=critique, project_id=run.project_id,
                  document_id=document.id, run_id=run.id,
                  data={"category": critique.category, "severity": critique.severity, "text": critique.text})
    return critique


@dataclass
class ReadView:
    """The current text, clean; with `changes`, what the last step (a run's decisions or the writer's
    own edit) changed, as (text, old text or None) pieces of the current text."""
    document: Document
    version: Version
    pieces: list
    changed: int
    can_write: bool


def read_view(session: Session, *, document_id: int, user: User, changes: bool = False) -> ReadView:
    document, role = access.require_document(session, user, document_id)
    version = session.get(Version, document.current_version_id)
    pieces: list[tuple[str, str | None]] = [(version.text, None)]
    changed = 0
    if changes:
        applied = list(session.execute(select(Edit.start, Edit.end, Edit.original, Edit.replacement,
                                              Edit.decided_replacement, Edit.status).where(
            or_(Edit.revised_version_id == version.id,
                Edit.run_id == version.source_run_id if version.source_run_id else False),
            Edit.status.in_(("accepted", "modified"))).order_by(Edit.start)))
        pieces, changed = _changed_pieces(version.text, applied)
    return ReadView(document=document, version=version, pieces=pieces, changed=changed,
                    can_write=document.owner_id == user.id or role == "admin")


def _changed_pieces(text: str, applied) -> tuple[list, int]:
    """Cut the new text around the replacements the edits put in (one sweep, offsets shifted)."""
    pieces: list[tuple[str, str | None]] = []
    cursor = shift = 0
    for start, end, original, replacement, decided, status in applied:
        new = decided if status == "modified" and decided is not None else replacement
        at = start + shift
        if at < cursor:
            continue
        pieces.append((text[cursor:at], None))
        pieces.append((text[at:at + len(new)], original))
        cursor = at + len(new)
        shift += len(new) - (end - start)
    pieces.append((text[cursor:], None))
    return [p for p in pieces if p[0] or p[1]], len(applied)


def download_name(document: Document, suffix: str) -> str:
    """A file name from the title: letters, digits and dashes only (safe in any header)."""
    import re as _re

    stem = _re.sub(r"[^A-Za-z0-9]+", "-", document.title).strip("-")[:60] or f"document-{document.id}"
    return f"{stem}.{suffix}"
