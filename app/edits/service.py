"""Decisions on edits, and applying a run's decided edits as a new version."""
from __future__ import annotations

from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts import access
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.events import service as events
from app.models import Document, Edit, Project, Run, User, Version

Decision = Literal["accept", "reject", "modify"]
DECISIONS = ("accept", "reject", "modify")
APPLIED_STATUSES = ("accepted", "modified")


def _check_decidable(run: Run, edit_version_id: int, document: Document) -> None:
    if run.applied_version_id is not None:
        raise Conflict("This run was already applied; its edits can no longer be decided.")
    if document.current_version_id != edit_version_id:
        raise Conflict("This edit belongs to an older version of the document; reload the page to see "
                       "the current version.")


def _load_for_update(session: Session, edit_id: int, user: User) -> tuple[Edit, Run, Document, Project, str | None]:
    """The edit with its run, document and project in one query; the run and edit rows are locked.

    Every path that changes a run's edits locks the run row first (FOR UPDATE OF runs, edits),
    so a decision cannot slip in while apply_run builds the version, and the lock order is one."""
    session.flush()  # populate_existing would overwrite unflushed changes
    row = session.execute(
        select(Edit, Run, Document, Project, access.member_role_column(user))
        .select_from(Run)
        .join(Edit, Edit.run_id == Run.id)
        .join(Document, Document.id == Run.document_id)
        .join(Project, Project.id == Document.project_id)
        .where(Edit.id == edit_id)
        .with_for_update(of=(Run, Edit))  # PostgreSQL locks in this order: the run first (test_lock_order)
        .execution_options(populate_existing=True)  # the values as of the lock, not the identity map's
    ).one_or_none()
    if row is None:
        raise NotFound("No such edit.")
    edit, run, document, project, role = row.tuple()
    # Link the rows loaded together, so edit.run.document.project needs no further queries.
    set_committed_value(edit, "run", run)
    set_committed_value(run, "document", document)
    set_committed_value(document, "project", project)
    return edit, run, document, project, role


def _shown(edit: Edit) -> dict:
    """What the person saw when deciding (the proposal, not the current decision)."""
    return {"original": edit.original, "replacement": edit.replacement, "intent": edit.intent,
            "rationale": edit.rationale, "confidence": edit.confidence, "start": edit.start, "end": edit.end}


def _target(edit: Edit, decision: str, replacement: str | None) -> tuple[str, str | None]:
    """The (status, decided_replacement) a decision leads to."""
    if decision not in DECISIONS:
        raise Invalid(f"Unknown decision {decision!r}; use accept, reject or modify.")
    if decision == "modify":
        if replacement is None:
            raise Invalid("Modify needs your replacement text.")
        replacement = replacement.replace("\r\n", "\n")
        if replacement == edit.replacement:  # the person typed the proposal itself: that is accepting it
            return "accepted", None
        return "modified", replacement
    if replacement is not None:
        raise Invalid("A replacement goes with the modify decision only.")
    return ("accepted" if decision == "accept" else "rejected"), None


def _decide_loaded(session: Session, *, edit: Edit, run: Run, user: User, decision: str,
                   replacement: str | None, comment: str | None, source: str, data: dict | None = None,
                   log: list[dict] | None = None) -> bool:
    """Set the decision on an already locked, access-checked edit. True when something changed.
    With `log`, the event is appended to it for one `events.record_many` by the caller."""
    status, decided_replacement = _target(edit, decision, replacement)
    comment_changed = comment is not None and comment != edit.comment
    if (status, decided_replacement, source) == (edit.status, edit.decided_replacement, edit.decision_source):
        if comment_changed:
            _set_comment(session, edit=edit, run=run, user=user, comment=comment)
        return comment_changed  # an identical repeated decision is a no-op, with no new event
    previous, previous_replacement = edit.status, edit.decided_replacement
    edit.status = status
    edit.decided_replacement = decided_replacement
    edit.decision_source = source
    edit.decided_by_id = user.id
    edit.decided_at = utcnow()
    if comment_changed:
        edit.comment = comment
    event = events.event_values(
        session, kind="edit.decided", actor=user, subject=edit, source=source,
        project_id=run.project_id, document_id=run.document_id, run_id=run.id,
        data={"decision": decision, "status": status, "previous_status": previous,
              "previous_replacement": previous_replacement, "decided_replacement": decided_replacement,
              "comment": edit.comment, "shown": _shown(edit), **(data or {})})
    if log is not None:
        log.append(event)
    else:
        events.record_many(session, [event])
    return True


def _set_comment(session: Session, *, edit: Edit, run: Run, user: User, comment: str) -> None:
    previous = edit.comment
    edit.comment = comment
    events.record(session, kind="edit.commented", actor=user, subject=edit,
                  project_id=run.project_id, document_id=run.document_id, run_id=run.id,
                  data={"comment": comment, "previous_comment": previous, "status": edit.status})


def _pending_count(session: Session, run_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Edit).where(Edit.run_id == run_id, Edit.undecided_clause())
    ) or 0


def decide_edit(session: Session, *, edit_id: int, user: User, decision: Decision, replacement: str | None = None,
                comment: str | None = None, source: str = "human", seen_status: str | None = None) -> Edit:
    """Accept, reject or modify one edit. The hot path: one locked load, one role lookup, one update.

    With `seen_status` (what the page showed), a decision made meanwhile is not overwritten: 409,
    unless this one asks for the same result (a double click)."""
    edit, run, document, project, role = _load_for_update(session, edit_id, user)
    access.check_document(user, document, role, write=True)
    _check_decidable(run, edit.version_id, document)
    if seen_status is not None and seen_status != edit.status \
            and _target(edit, decision, replacement) != (edit.status, edit.decided_replacement):
        raise Conflict(f"This edit was decided meanwhile (it is {edit.status} now), perhaps in another tab; "
                       "reload the page to see it.")
    changed = _decide_loaded(session, edit=edit, run=run, user=user, decision=decision,
                             replacement=replacement, comment=comment, source=source)
    if changed and project.auto_apply:
        session.flush()
        if _pending_count(session, run.id) == 0:
            apply_run(session, run_id=run.id, user=user)
    return edit


def decide_all(session: Session, *, run_id: int, user: User, decision: Literal["accept", "reject"]) -> list[Edit]:
    """Accept-all / reject-all of the run's pending edits. Returns the edits that changed."""
    return decide_filtered(session, run_id=run_id, user=user, decision=decision)


def decide_filtered(session: Session, *, run_id: int, user: User, decision: Literal["accept", "reject"],
                    edit_filter=None) -> list[Edit]:
    """Accept or reject the edits of a run that match `edit_filter` (app.edits.window.EditFilter),
    in one transaction with one event per edit. Without a status filter only pending edits are
    decided (a bulk action never overwrites a decision the writer made one by one); with one, the
    edits of those statuses are. Returns the edits that changed."""
    from app.edits.window import NO_FILTER

    if decision not in ("accept", "reject"):
        raise Invalid("Decide-all takes accept or reject.")
    edit_filter = edit_filter or NO_FILTER
    session.flush()  # the sessions do not autoflush: earlier decisions must be visible to the query
    run, document, project = _load_run(session, run_id, user, lock=True)
    _check_decidable(run, run.version_id, document)
    query = edit_filter.apply(select(Edit).where(Edit.run_id == run.id))
    if not edit_filter.statuses:
        query = query.where(Edit.undecided_clause())
    targets = session.scalars(query.order_by(Edit.start).with_for_update()
                              .execution_options(populate_existing=True)).all()
    log: list[dict] = []
    data = {"bulk": True}
    if edit_filter.active:
        data["filter"] = {"intents": list(edit_filter.intents), "statuses": list(edit_filter.statuses),
                          "min_confidence": edit_filter.min_confidence, "max_confidence": edit_filter.max_confidence}
    changed = [edit for edit in targets
               if _decide_loaded(session, edit=edit, run=run, user=user, decision=decision, replacement=None,
                                 comment=None, source="human", data=data, log=log)]
    events.record_many(session, log)  # one executemany, not one INSERT per edit
    if changed and project.auto_apply:
        session.flush()
        if _pending_count(session, run.id) == 0:
            apply_run(session, run_id=run.id, user=user)
    return changed


def comment_edit(session: Session, *, edit_id: int, user: User, comment: str) -> Edit:
    """A free-text comment on an edit (any time before its run is applied)."""
    edit, run, document, _project, role = _load_for_update(session, edit_id, user)
    access.check_document(user, document, role, write=True)
    _check_decidable(run, edit.version_id, document)
    comment = (comment or "").strip()
    if comment != edit.comment:
        _set_comment(session, edit=edit, run=run, user=user, comment=comment)
    return edit


def record_exposure(session: Session, *, run: Run, edit_ids_in_order: list[int], user: User | None,
                    surface: str = "document") -> None:
    """Which edits a person was shown, in which position (CausalRM: exposure before outcome)."""
    if not edit_ids_in_order:
        return
    events.record(session, kind="edits.shown", actor=user, subject=run,
                  data={"surface": surface, "edit_ids": list(edit_ids_in_order),
                        "positions": [{"edit_id": eid, "position": i} for i, eid in enumerate(edit_ids_in_order)]})


def _load_run(session: Session, run_id: int, user: User, *, lock: bool = False) -> tuple[Run, Document, Project]:
    query = (select(Run, Document, Project).join(Document, Document.id == Run.document_id)
             .join(Project, Project.id == Document.project_id).where(Run.id == run_id))
    if lock:
        query = query.with_for_update(of=Run).execution_options(populate_existing=True)
    row = session.execute(query).one_or_none()
    if row is None:
        raise NotFound("No such run.")
    run, document, project = row.tuple()
    access.require_document(session, user, document.id, write=True)
    return run, document, project


def apply_text(text: str, edits: list[Edit]) -> str:
    """The text with accepted (replacement) and modified (decided replacement) edits applied.

    Right to left, so earlier offsets stay valid; the propose stage guarantees no overlaps."""
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        if edit.status == "accepted":
            text = text[:edit.start] + edit.replacement + text[edit.end:]
        elif edit.status == "modified":
            text = text[:edit.start] + (edit.decided_replacement or "") + text[edit.end:]
    return text


def apply_run(session: Session, *, run_id: int, user: User) -> Version:
    """Make the next version from a run whose edits are all decided."""
    from app.documents import service as documents  # documents imports this module for revise_again

    session.flush()
    run, document, project = _load_run(session, run_id, user, lock=True)
    if run.applied_version_id is not None:
        raise Conflict("This run was already applied.")
    if run.status != "succeeded":
        raise Conflict(f"This run is {run.status}; only a finished run can be applied.")
    if document.current_version_id != run.version_id:
        raise Conflict("The document has a newer version than the one this run revised; it cannot be applied.")
    edits = session.scalars(select(Edit).where(Edit.run_id == run.id).order_by(Edit.start)).all()
    if not edits:
        raise Conflict("This run proposed no edits; there is nothing to apply.")
    undecided = sum(1 for e in edits if e.undecided)
    if undecided:
        raise Conflict(f"{undecided} edit{'s are' if undecided != 1 else ' is'} still undecided; "
                       "decide every edit before applying.")
    base = session.get(Version, run.version_id)
    text = apply_text(base.text, edits)
    version = documents.add_version(session, document=document, text=text, depth=base.depth + 1, actor=user,
                                    parent=base, source_run=run)
    run.applied_version_id = version.id
    if version.depth >= project.max_depth:
        document.stop_reason = "max_depth"
    applied = [e.id for e in edits if e.status in APPLIED_STATUSES]
    events.record(session, kind="version.applied", actor=user, subject=version, run_id=run.id,
                  project_id=project.id,
                  data={"run_id": run.id, "parent_id": base.id, "depth": version.depth, "number": version.number,
                        "applied_edit_ids": applied,
                        "rejected_edit_ids": [e.id for e in edits if e.status == "rejected"],
                        "stop_reason": document.stop_reason})
    if document.auto_repeat and document.stop_reason is None:
        documents.start_next_run(session, document_id=document.id, user=user)
    return version


def count_statuses(edits) -> dict[str, int]:
    """Counts by status; an edit only the shadow user decided counts as pending."""
    counts = {status: 0 for status in ("pending", "accepted", "rejected", "modified")}
    for edit in edits:
        # superseded (rewritten by the writer, or carried over to a newer version): counted apart, not in the total
        key = "pending" if edit.undecided else edit.status
        counts[key] = counts.get(key, 0) + 1
    counts["total"] = sum(counts[s] for s in ("pending", "accepted", "rejected", "modified"))
    counts["to_apply"] = counts["accepted"] + counts["modified"]
    return counts


def run_counts(session: Session, *, run_id: int) -> dict[str, int]:
    """Edits of a run by status, in one query."""
    session.flush()
    counts = count_statuses(())
    for status, source, n in session.execute(select(Edit.status, Edit.decision_source, func.count())
                                             .where(Edit.run_id == run_id)
                                             .group_by(Edit.status, Edit.decision_source)):
        key = "pending" if status == "pending" or source == "ai" else status
        counts[key] = counts.get(key, 0) + n
    counts["total"] = sum(counts[s] for s in ("pending", "accepted", "rejected", "modified"))
    counts["to_apply"] = counts["accepted"] + counts["modified"]
    return counts


def get_edit(session: Session, *, edit_id: int, user: User) -> tuple[Edit, Run]:
    """An edit the user may see (read access)."""
    row = session.execute(select(Edit, Run).join(Run, Run.id == Edit.run_id).where(Edit.id == edit_id)).one_or_none()
    if row is None:
        raise NotFound("No such edit.")
    edit, run = row.tuple()
    access.require_document(session, user, run.document_id)
    return edit, run
