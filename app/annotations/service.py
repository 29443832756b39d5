"""Step-level annotations, the run trace, segments and correct-and-rerun.

Who may do what (built on app/accounts/access.py):
- a run's trace is visible to the project's annotators and admins and to the document's writer;
  anyone else gets 404, so a run's existence does not leak;
- labels, corrections and re-runs need the annotator or admin role in the run's project.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import access
from app.annotations import segments as segmenting
from app.db import utcnow
from app.errors import Forbidden, Invalid, NotFound
from app.events import service as events
from app.models import (
    TARGET_KINDS,
    Annotation,
    Critique,
    Document,
    Edit,
    Event,
    Project,
    Queue,
    QueueClaim,
    QueueItem,
    Run,
    Stage,
    User,
    Version,
)

ANNOTATOR_ROLES = ("annotator", "admin")
MAX_COMMENT_CHARS = 10_000
MAX_CORRECTION_CHARS = 200_000


# --- access -------------------------------------------------------------------------------

def _role_for_document(session: Session, user: User, document: Document) -> str | None:
    """The user's role if they may see this document's runs (annotator/admin, or its writer)."""
    if document.archived_at is not None:
        return None
    role = access.role_in(session, user, document.project_id)
    if role in ANNOTATOR_ROLES or (role is not None and document.owner_id == user.id):
        return role
    return None


def _require_seen(session: Session, user: User, thing: Run | Version | None, what: str, annotate: bool) -> str:
    """The user's role for a run or version of a document they may see (annotate: may label)."""
    role = _role_for_document(session, user, thing.document) if thing is not None else None
    if role is None:
        raise NotFound(f"No such {what}.")
    if annotate and role not in ANNOTATOR_ROLES:
        raise Forbidden("Labelling needs the annotator or admin role in this project.")
    return role


def require_run(session: Session, user: User, run_id: int, *, annotate: bool = False) -> tuple[Run, str]:
    """The run if the user may see its trace (annotate=True: may also label it)."""
    run = session.get(Run, run_id)
    return run, _require_seen(session, user, run, "run", annotate)


def require_version(session: Session, user: User, version_id: int, *, annotate: bool = False) -> tuple[Version, str]:
    version = session.get(Version, version_id)
    return version, _require_seen(session, user, version, "version", annotate)


@dataclass
class Target:
    kind: str
    id: int
    step: int
    document: Document
    run: Run | None = None
    segment: segmenting.Segment | None = None
    segment_unit: str | None = None


def resolve_target(session: Session, user: User, *, kind: str, target_id: int, step: int = 0,
                   annotate: bool = False) -> Target:
    """The thing an annotation points at, after the access check (404 when not visible)."""
    if kind not in TARGET_KINDS:
        raise Invalid(f"Unknown target kind {kind!r}; use one of {', '.join(TARGET_KINDS)}.")
    if kind == "segment":
        version, _role = require_version(session, user, target_id, annotate=annotate)
        unit = version.document.project.segment_unit
        steps = segmenting.split(version.text, unit)
        if not 0 <= step < len(steps):
            raise NotFound(f"Version {version.id} has no step {step}.")
        return Target(kind, version.id, step, version.document, segment=steps[step], segment_unit=unit)
    model = {"run": Run, "stage": Stage, "critique": Critique, "edit": Edit}[kind]
    row = session.get(model, target_id)
    if row is None:
        raise NotFound(f"No such {kind}.")
    run_id = row.id if kind == "run" else row.run_id
    run, _role = require_run(session, user, run_id, annotate=annotate)
    return Target(kind, row.id, 0, run.document, run=run)


# --- annotations --------------------------------------------------------------------------

def _snapshot(annotation: Annotation | None) -> dict | None:
    if annotation is None:
        return None
    return {"label": annotation.label, "comment": annotation.comment, "correction": annotation.correction,
            "source": annotation.source, "queue_item_id": annotation.queue_item_id}


def _check_queue_item(session: Session, user: User, target: Target, queue_item_id: int) -> QueueItem:
    """The item must hold this target and the user must have claimed it; a label is activity
    on the claim, so it is not released as idle."""
    item = session.get(QueueItem, queue_item_id)
    claim = session.scalar(select(QueueClaim).where(QueueClaim.item_id == queue_item_id,
                                                    QueueClaim.user_id == user.id)) if item else None
    if item is None or claim is None:
        raise NotFound("You have not claimed that queue item.")
    holds = (item.run_id is not None and target.run is not None and item.run_id == target.run.id) or (
        item.document_id is not None and item.document_id == target.document.id)
    if not holds:
        raise Invalid("That label is not about this queue item.")
    if claim.submitted_at is None and claim.released_at is None:
        claim.claimed_at = utcnow()
    return item


def save_annotation(session: Session, *, user: User, target_kind: str, target_id: int, step: int = 0,
                    label: int | None, comment: str = "", correction: str | None = None,
                    queue_item_id: int | None = None, stop_at_first_error: bool = False,
                    source: str = "human") -> Annotation:
    """Create or update the user's one current annotation on a target; each change is an event
    `annotation.saved` with the values before and after, so the history is kept."""
    if label is not None and label not in (-1, 0, 1):
        raise Invalid("A label is +1, 0 or −1.")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise Invalid(f"A comment has at most {MAX_COMMENT_CHARS:,} characters.")
    if correction is not None:
        correction = correction if correction.strip() else None
    if correction is not None and len(correction) > MAX_CORRECTION_CHARS:
        raise Invalid(f"A correction has at most {MAX_CORRECTION_CHARS:,} characters.")
    if target_kind != "segment":
        step = 0
    target = resolve_target(session, user, kind=target_kind, target_id=target_id, step=step, annotate=True)
    if target_kind == "segment" and stop_at_first_error:
        labels = my_segment_labels(session, user=user, version_id=target.id)
        stop = segmenting.first_error({k: v for k, v in labels.items() if k != step})
        if stop is not None and step > stop:
            raise Invalid(f"Step {stop + 1} is already marked wrong; later steps are not asked.")
    if queue_item_id is not None:
        _check_queue_item(session, user, target, queue_item_id)

    key = (Annotation.user_id == user.id, Annotation.target_kind == target.kind,
           Annotation.target_id == target.id, Annotation.step == target.step)
    annotation = session.scalar(select(Annotation).where(*key))
    before = _snapshot(annotation)
    if annotation is None:
        annotation = Annotation(project_id=target.document.project_id, user_id=user.id, target_kind=target.kind,
                                target_id=target.id, step=target.step, label=label, comment=comment,
                                correction=correction, source=source, queue_item_id=queue_item_id)
        if target.segment is not None:
            annotation.segment_unit = target.segment_unit
            annotation.segment_text = target.segment.text
        try:
            # A double submit from two tabs races on the unique key; the loser updates instead.
            with session.begin_nested():
                session.add(annotation)
        except IntegrityError:
            annotation = session.scalar(select(Annotation).where(*key))
            before = _snapshot(annotation)
    if before is not None:
        annotation.label = label
        annotation.comment = comment
        annotation.correction = correction
        annotation.source = source
        if queue_item_id is not None:
            annotation.queue_item_id = queue_item_id
        if target.segment is not None:
            annotation.segment_unit = target.segment_unit
            annotation.segment_text = target.segment.text
    after = _snapshot(annotation)
    if before != after:
        annotation.updated_at = utcnow()
        session.flush()
        events.record(session, kind="annotation.saved", actor=user, subject=annotation, source=source,
                      project_id=target.document.project_id, document_id=target.document.id,
                      run_id=target.run.id if target.run else None,
                      data={"target_kind": target.kind, "target_id": target.id, "step": target.step,
                            "before": before, "after": after})
        session.flush()
    return annotation


def annotation_history(session: Session, *, annotation: Annotation) -> list:
    """The `annotation.saved` events of one annotation, oldest first."""
    session.flush()
    return list(session.scalars(select(Event).where(
        Event.subject_kind == "annotation", Event.subject_id == annotation.id,
        Event.kind == "annotation.saved").order_by(Event.id)))


def annotations_on(session: Session, *, targets: list[tuple[str, int]], user: User | None = None,
                   exclude_user: User | None = None) -> list[Annotation]:
    """Annotations on any of the (kind, id) targets in one query (all steps of segments)."""
    by_kind: dict[str, set[int]] = {}
    for kind, target_id in targets:
        by_kind.setdefault(kind, set()).add(target_id)
    if not by_kind:
        return []
    clause = or_(*[(Annotation.target_kind == kind) & Annotation.target_id.in_(ids) for kind, ids in by_kind.items()])
    query = select(Annotation).where(clause).order_by(Annotation.id)
    if user is not None:
        query = query.where(Annotation.user_id == user.id)
    if exclude_user is not None:
        query = query.where(Annotation.user_id != exclude_user.id)
    return list(session.scalars(query))


def my_segment_labels(session: Session, *, user: User, version_id: int) -> dict[int, int | None]:
    rows = session.execute(select(Annotation.step, Annotation.label).where(
        Annotation.user_id == user.id, Annotation.target_kind == "segment", Annotation.target_id == version_id))
    return {step: label for step, label in rows}


def others_hidden(session: Session, *, user: User, run_id: int | None = None, document_id: int | None = None) -> bool:
    """Blind mode: True while the user has an unsubmitted claim on a blind queue's item that
    holds this run or document (they must not see others' labels before giving their own)."""
    holds = []
    if run_id is not None:
        holds.append(QueueItem.run_id == run_id)
    if document_id is not None:
        holds.append(QueueItem.document_id == document_id)
    if not holds:
        return False
    found = session.scalar(
        select(QueueClaim.id).join(QueueItem, QueueItem.id == QueueClaim.item_id)
        .join(Queue, Queue.id == QueueItem.queue_id)
        .where(QueueClaim.user_id == user.id, QueueClaim.submitted_at.is_(None), Queue.blind.is_(True), or_(*holds))
        .limit(1))
    return found is not None


# --- the run trace ------------------------------------------------------------------------

@dataclass
class Trace:
    run: Run
    document: Document
    project: Project
    role: str
    can_annotate: bool
    stages: list[Stage]
    critiques_by_stage: dict[int, list[Critique]]
    edits_by_stage: dict[int | None, list[Edit]]
    parent: Run | None
    children: list[Run]
    correction: Annotation | None
    correction_author: User | None
    correction_output: str  # the corrected stage output this run started from
    correction_comment: str  # the reason given with that correction
    mine: dict[tuple[str, int, int], Annotation]
    others: dict[tuple[str, int, int], list[Annotation]] = field(default_factory=dict)
    others_hidden: bool = False


def _keyed(annotations: list[Annotation]) -> dict[tuple[str, int, int], Annotation]:
    return {(a.target_kind, a.target_id, a.step): a for a in annotations}


def run_trace(session: Session, *, run_id: int, user: User) -> Trace:
    """Everything a run did, in order, with the user's labels and the run's lineage."""
    run, role = require_run(session, user, run_id)
    stages = list(session.scalars(select(Stage).where(Stage.run_id == run.id).order_by(Stage.position)))
    critiques = list(session.scalars(select(Critique).where(Critique.run_id == run.id)
                                     .order_by(Critique.stage_id, Critique.position)))
    edits = list(session.scalars(select(Edit).where(Edit.run_id == run.id).order_by(Edit.start)))
    critiques_by_stage: dict[int, list[Critique]] = {}
    for critique in critiques:
        critiques_by_stage.setdefault(critique.stage_id, []).append(critique)
    edits_by_stage: dict[int | None, list[Edit]] = {}
    for edit in edits:
        edits_by_stage.setdefault(edit.stage_id, []).append(edit)
    parent = session.get(Run, run.parent_run_id) if run.parent_run_id else None
    children = list(session.scalars(select(Run).where(Run.parent_run_id == run.id).order_by(Run.id)))
    correction = session.get(Annotation, run.correction_annotation_id) if run.correction_annotation_id else None
    correction_output = correction_comment = ""
    if run.parent_run_id is not None and run.rerun_from_position is not None:
        corrected = next((st for st in stages if st.position == run.rerun_from_position), None)
        correction_output = stage_output_json(corrected) if corrected is not None else ""
        made = session.scalars(select(Event.data).where(Event.kind == "stage.corrected",
                                                        Event.run_id == run.parent_run_id)).all()
        correction_comment = next((d.get("comment") or "" for d in made if d.get("child_run_id") == run.id), "")
    targets = ([("run", run.id)] + [("stage", s.id) for s in stages] + [("critique", c.id) for c in critiques]
               + [("edit", e.id) for e in edits])
    can_annotate = role in ANNOTATOR_ROLES
    mine = _keyed(annotations_on(session, targets=targets, user=user))
    hidden = others_hidden(session, user=user, run_id=run.id, document_id=run.document_id)
    others: dict[tuple[str, int, int], list[Annotation]] = {}
    if can_annotate and not hidden:
        for a in annotations_on(session, targets=targets, exclude_user=user):
            others.setdefault((a.target_kind, a.target_id, a.step), []).append(a)
    return Trace(run=run, document=run.document, project=run.document.project, role=role,
                 can_annotate=can_annotate, stages=stages, critiques_by_stage=critiques_by_stage,
                 edits_by_stage=edits_by_stage, parent=parent, children=children, correction=correction,
                 correction_author=session.get(User, correction.user_id) if correction else None,
                 correction_output=correction_output, correction_comment=correction_comment,
                 mine=mine, others=others, others_hidden=hidden)


# --- segments -----------------------------------------------------------------------------

@dataclass
class Step:
    segment: segmenting.Segment
    annotation: Annotation | None
    asked: bool
    others: list[Annotation] = field(default_factory=list)


@dataclass
class VersionSteps:
    version: Version
    document: Document
    unit: str
    can_annotate: bool
    steps: list[Step]
    first_error: int | None
    others_hidden: bool


def version_steps(session: Session, *, version_id: int, user: User, stop_at_first_error: bool = False) -> VersionSteps:
    """A version split per the project's segment unit, with the user's labels; with
    stop_at_first_error, steps after the first −1 are not asked (PRM800K)."""
    version, role = require_version(session, user, version_id)
    unit = version.document.project.segment_unit
    pieces = segmenting.split(version.text, unit)
    mine = {a.step: a for a in annotations_on(session, targets=[("segment", version.id)], user=user)}
    labels = {step: a.label for step, a in mine.items()}
    asked = segmenting.asked_steps(len(pieces), labels, stop_at_first_error=stop_at_first_error)
    hidden = others_hidden(session, user=user, document_id=version.document_id)
    others: dict[int, list[Annotation]] = {}
    if role in ANNOTATOR_ROLES and not hidden:
        for a in annotations_on(session, targets=[("segment", version.id)], exclude_user=user):
            others.setdefault(a.step, []).append(a)
    steps = [Step(segment=p, annotation=mine.get(p.index), asked=asked[p.index], others=others.get(p.index, []))
             for p in pieces]
    return VersionSteps(version=version, document=version.document, unit=unit,
                        can_annotate=role in ANNOTATOR_ROLES, steps=steps,
                        first_error=segmenting.first_error(labels), others_hidden=hidden)


# --- correct and re-run -------------------------------------------------------------------

def stage_candidates(session: Session, stage: Stage, run: Run) -> int:
    """How many candidate edits a verify stage scores (the propose stage's edits)."""
    if stage.name != "verify":
        return 0
    propose = session.scalar(select(Stage).where(Stage.run_id == run.id, Stage.name == "propose"))
    return len(((propose.parsed_output if propose else None) or {}).get("edits") or [])


def validate_stage_output(session: Session, stage: Stage, value, run: Run):
    """The corrected parsed output (a JSON value, or JSON text), checked against the stage's
    schema and the version's text (app.annotations.corrections.check, the one path for rows and
    raw JSON alike) and normalised the way the pipeline stores it."""
    from app.annotations import corrections

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise Invalid(f"The correction is not valid JSON: {exc}.") from exc
    normalised = corrections.check(stage.name, value, text=run.version.text,
                                   candidates=stage_candidates(session, stage, run))
    return value, normalised


@dataclass
class Correction:
    annotation: Annotation
    run: Run


def correct_stage(session: Session, *, stage_id: int, user: User, parsed_output, comment: str = "") -> Correction:
    """Replace a stage's parsed output and re-run the stages after it in a new child run.

    parsed_output is JSON text or an already parsed value (the row editor's). The correction is
    saved as the user's annotation on the stage (label −1 unless they gave one, correction = the
    JSON), then app.runs.service.rerun_from makes the child run."""
    from app.runs import service as runs  # another feature's service, imported when needed

    stage = session.get(Stage, stage_id)
    if stage is None:
        raise NotFound("No such stage.")
    run, _role = require_run(session, user, stage.run_id, annotate=True)
    if stage.status != "succeeded":
        raise Invalid("Only a stage that succeeded can be corrected.")
    size = len(parsed_output) if isinstance(parsed_output, str) else len(json.dumps(parsed_output, ensure_ascii=False))
    if size > MAX_CORRECTION_CHARS:
        raise Invalid(f"A correction has at most {MAX_CORRECTION_CHARS:,} characters.")
    value, normalised = validate_stage_output(session, stage, parsed_output, run)
    if normalised == stage.parsed_output:
        raise Invalid("The correction is the same as the stage's output.")
    existing = session.execute(select(Annotation.label, Annotation.comment).where(
        Annotation.user_id == user.id, Annotation.target_kind == "stage", Annotation.target_id == stage.id)).first()
    comment = comment.strip()
    annotation = save_annotation(session, user=user, target_kind="stage", target_id=stage.id,
                                 label=existing.label if existing is not None else -1,
                                 comment=comment or (existing.comment if existing is not None else ""),
                                 correction=json.dumps(normalised, ensure_ascii=False, indent=1))
    child = runs.rerun_from(session, run_id=run.id, position=stage.position, parsed_output=value, user=user,
                            annotation_id=annotation.id)
    # The annotation holds the user's latest correction of this stage; each child run's own
    # correction and reason stay in this event (and in the child's corrected stage).
    events.record(session, kind="stage.corrected", actor=user, subject=stage, project_id=run.project_id,
                  document_id=run.document_id, run_id=run.id,
                  data={"annotation_id": annotation.id, "child_run_id": child.id, "position": stage.position,
                        "comment": comment, "correction": normalised})
    return Correction(annotation=annotation, run=child)


def stage_output_json(stage: Stage) -> str:
    return json.dumps(stage.parsed_output, ensure_ascii=False, indent=2) if stage.parsed_output is not None else ""
