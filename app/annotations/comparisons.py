"""Pairwise comparison: two runs on the same version shown as two revisions; the person picks one."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotations.service import require_run, require_version
from app.documents import diffing
from app.errors import Conflict, Invalid
from app.events import service as events
from app.models import Comparison, Edit, Run, User, Version

CHOICES = ("a", "b", "tie")
MAX_REASON_CHARS = 5_000


@dataclass
class Piece:
    """A stretch of the revision: unchanged text, or an edit (original → replacement)."""
    text: str
    original: str | None = None
    edit: Edit | None = None


@dataclass
class Revision:
    run: Run
    text: str
    pieces: list[Piece]
    edits: int


def revision(version: Version, run: Run, edits: list[Edit]) -> Revision:
    """The version text with every edit the run proposed applied (they never overlap)."""
    pieces: list[Piece] = []
    out: list[str] = []
    pos = 0
    applied = 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start < pos:
            continue  # defensive: overlapping edits cannot both apply
        if edit.start > pos:
            pieces.append(Piece(version.text[pos:edit.start]))
            out.append(version.text[pos:edit.start])
        pieces.append(Piece(edit.replacement, original=edit.original, edit=edit))
        out.append(edit.replacement)
        pos = edit.end
        applied += 1
    if pos < len(version.text):
        pieces.append(Piece(version.text[pos:]))
        out.append(version.text[pos:])
    return Revision(run=run, text="".join(out), pieces=pieces, edits=applied)


DIFF_CONTEXT = 160  # unchanged characters kept each side of a change
DIFF_MAX_CHARS = 60_000  # characters shown at most; the rest is counted, not shown


@dataclass
class RevisionDiff:
    """Revision A against revision B (app.documents.diffing: paragraph-anchored, near-linear),
    long unchanged stretches cut to their ends so a long document stays a short page."""
    ops: list[tuple[str, str, str]]  # (tag, a_text, b_text); tag "gap" marks left-out text
    changes: int
    insertions: int
    deletions: int
    not_shown: int  # changes beyond DIFF_MAX_CHARS


def revision_diff(a_text: str, b_text: str) -> RevisionDiff:
    diff = diffing.diff_texts(a_text, b_text, a_label="A", b_label="B")
    ops: list[tuple[str, str, str]] = []
    used = changes = not_shown = 0
    last = len(diff.ops) - 1
    for i, (tag, old, new) in enumerate(diff.ops):
        if tag != "equal":
            changes += 1
            if used > DIFF_MAX_CHARS:
                not_shown += 1
                continue
            ops.append((tag, old, new))
            used += len(old) + len(new)
            continue
        if used > DIFF_MAX_CHARS:
            continue
        head = old[:DIFF_CONTEXT] if i > 0 else ""
        tail = old[-DIFF_CONTEXT:] if i < last else ""
        if len(old) <= len(head) + len(tail) + 20:
            ops.append(("equal", old, old))
            used += len(old)
            continue
        if head:
            ops.append(("equal", head, head))
        ops.append(("gap", old[len(head):len(old) - len(tail)], ""))
        if tail:
            ops.append(("equal", tail, tail))
        used += len(head) + len(tail)
    return RevisionDiff(ops=ops, changes=changes, insertions=diff.insertions, deletions=diff.deletions,
                        not_shown=not_shown)


@dataclass
class CompareView:
    version: Version
    runs: list[Run]
    a: Revision | None
    b: Revision | None
    mine: Comparison | None
    diff: RevisionDiff | None = None


def _pair(session: Session, user: User, version: Version, run_a_id: int, run_b_id: int) -> tuple[Run, Run]:
    if run_a_id == run_b_id:
        raise Invalid("Pick two different runs to compare.")
    run_a, _ = require_run(session, user, run_a_id)
    run_b, _ = require_run(session, user, run_b_id)
    if run_a.version_id != version.id or run_b.version_id != version.id:
        raise Invalid("Both runs must be on this version.")
    return run_a, run_b


def compare_view(session: Session, *, version_id: int, user: User, run_a_id: int | None = None,
                 run_b_id: int | None = None) -> CompareView:
    version, _role = require_version(session, user, version_id)
    runs = list(session.scalars(select(Run).where(Run.version_id == version.id).order_by(Run.id)))
    a = b = mine = None
    if run_a_id is not None and run_b_id is not None:
        run_a, run_b = _pair(session, user, version, run_a_id, run_b_id)
        edits = list(session.scalars(select(Edit).where(Edit.run_id.in_((run_a.id, run_b.id)))))
        a = revision(version, run_a, [e for e in edits if e.run_id == run_a.id])
        b = revision(version, run_b, [e for e in edits if e.run_id == run_b.id])
        mine = session.scalar(select(Comparison).where(
            Comparison.user_id == user.id, Comparison.version_id == version.id,
            Comparison.run_a_id == run_a.id, Comparison.run_b_id == run_b.id).order_by(Comparison.id.desc()).limit(1))
    diff = revision_diff(a.text, b.text) if a is not None and b is not None else None
    return CompareView(version=version, runs=runs, a=a, b=b, mine=mine, diff=diff)


def make_comparison(session: Session, *, version_id: int, run_a_id: int, run_b_id: int, user: User,
                    choice: str, reason: str = "", source: str = "human") -> Comparison:
    """Store the person's pick between the two runs' revisions, and an event `comparison.made`."""
    if choice not in CHOICES:
        raise Invalid("Pick A, B or tie.")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_CHARS:
        raise Invalid(f"A reason has at most {MAX_REASON_CHARS:,} characters.")
    version, _role = require_version(session, user, version_id)
    run_a, run_b = _pair(session, user, version, run_a_id, run_b_id)
    for run in (run_a, run_b):
        if run.status != "succeeded":
            raise Conflict(f"Run {run.id} has not finished; compare once both runs succeeded.")
    comparison = Comparison(project_id=version.document.project_id, version_id=version.id, run_a_id=run_a.id,
                            run_b_id=run_b.id, user_id=user.id, choice=choice, reason=reason, source=source)
    session.add(comparison)
    session.flush()
    events.record(session, kind="comparison.made", actor=user, subject=comparison, source=source,
                  document_id=version.document_id,
                  data={"version_id": version.id, "run_a_id": run_a.id, "run_b_id": run_b.id, "choice": choice,
                        "reason": reason, "models": [run_a.model, run_b.model],
                        "variants": [run_a.variant, run_b.variant]})
    session.flush()
    return comparison


def start_candidate_run(session: Session, *, version_id: int, user: User, model: str | None = None,
                        variant: str = "") -> Run:
    """Start another run on the version with a different model or prompt variant, to compare.
    app.runs.service.start_run refuses (Conflict) while a run of the document is active."""
    from app.runs import service as runs  # another feature's service, imported when needed

    version, _role = require_version(session, user, version_id)
    if version.document.current_version_id != version.id:
        raise Invalid("New runs start on the document's current version; this version is older.")
    model = (model or "").strip() or None
    variant = (variant or "").strip()[:64]
    if model is None and not variant:
        raise Invalid("Give another model or a prompt variant, so the two runs differ.")
    return runs.start_run(session, document_id=version.document_id, user=user, variant=variant, model=model)
