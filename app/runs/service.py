"""Runs: starting, cancelling, correcting-and-rerunning, and what a run needs to know.

The pipeline that executes a run lives in app/runs/pipeline.py (a Celery task calls it);
everything here runs inside the caller's transaction and only flushes.

Loop runs are the writer's revision passes: `variant == ""` and no parent run. Variant runs
(pairwise comparisons) and reruns (correct-and-rerun) use the same pipeline but neither stop
the document's loop nor block the writer.
"""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from app.accounts import access
from app.config import get_settings
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.events import service as events
from app.jobs import enqueue_after_commit
from app.models import (
    Critique,
    Document,
    Edit,
    Feedback,
    Guideline,
    Project,
    Run,
    Stage,
    User,
    Version,
)
from app.models.runs import STAGE_NAMES

ACTIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
# How many earlier rejections travel to the model; the newest matter most and prompts stay short.
DO_NOT_REPEAT_LIMIT = 200

STOP_MESSAGES = {
    "no_edits": "The revision loop of this document has stopped: its last run proposed no edits.",
    "max_depth": "The revision loop of this document has stopped: it reached the project's maximum depth.",
}


def stop_message(document: Document) -> str | None:
    if not document.stop_reason:
        return None
    return STOP_MESSAGES.get(document.stop_reason, f"The revision loop has stopped ({document.stop_reason}).")


def run_params(project: Project) -> dict:
    """The project's model and pipeline settings, frozen on the run so a rerun is reproducible."""
    return {
        "temperature": project.temperature,
        "max_tokens": project.max_tokens,
        "timeout": project.timeout_seconds,
        "max_retries": project.max_retries,
        "cache": project.cache_enabled,
        "verify_threshold": project.verify_threshold,
        # An OpenAI-compatible server is configured per deployment (EMEND_MODEL_API_BASE).
        "api_base": get_settings().model_api_base,
    }


def _is_loop_run(variant: str, parent_run_id: int | None) -> bool:
    return not variant and parent_run_id is None


def _by_a_person():
    return Edit.decision_source.is_(None) | (Edit.decision_source != "ai")


def _loop_runs():
    return (Run.variant == "") & (Run.parent_run_id.is_(None))


def start_run(session: Session, *, document_id: int, user: User, feedback: str = "", variant: str = "",
              model: str | None = None) -> Run:
    """Queue a new run on the document's current version; the worker starts once this commits."""
    document, _role = access.require_document(session, user, document_id, write=True)
    project = document.project
    variant = (variant or "").strip()[:64]
    feedback = (feedback or "").strip()

    active = session.scalar(
        select(Run.id).where(Run.document_id == document.id, Run.status.in_(ACTIVE_STATUSES),
                             Run.variant == variant, Run.parent_run_id.is_(None)).limit(1)
    )
    if active is not None:
        raise Conflict(f"Run {active} of this document is still queued or running; wait for it or cancel it.")
    if document.current_version_id is None:
        raise Conflict("The document has no version to revise.")
    if _is_loop_run(variant, None):
        message = stop_message(document)
        if message:
            raise Conflict(message + " Edit the text or restore a version to start again.")
        latest = session.scalar(
            select(Run).where(Run.document_id == document.id, Run.version_id == document.current_version_id,
                              Run.status == "succeeded", _loop_runs())
            .order_by(Run.created_at.desc(), Run.id.desc()).limit(1)
        )
        if latest is not None:
            undecided = session.scalar(
                select(func.count(Edit.id)).where(Edit.run_id == latest.id, Edit.undecided_clause()))
            if undecided:
                raise Conflict(f"Run {latest.id} still has {undecided} undecided edit"
                               f"{'s' if undecided != 1 else ''}: decide them before revising again.")

    previous_id = session.scalar(
        select(Run.id).where(Run.document_id == document.id).order_by(Run.created_at.desc(), Run.id.desc()).limit(1))
    run = Run(
        project_id=document.project_id, document_id=document.id, version_id=document.current_version_id,
        variant=variant, model=(model or project.model).strip(), params=run_params(project), status="queued",
        feedback=feedback, created_by_id=user.id,
    )
    session.add(run)
    session.flush()
    if _is_loop_run(variant, None) and model is None:
        from app.variants import service as variants  # a higher layer: imported where it is used

        variants.assign_run(session, run=run)  # the project's policy may give it a variant's model
    if feedback:
        row = Feedback(document_id=document.id, run_id=previous_id, used_by_run_id=run.id, user_id=user.id,
                       text=feedback)
        session.add(row)
        session.flush()
        events.record(session, kind="feedback.given", actor=user, subject=row, run_id=run.id,
                      data={"text": feedback, "about_run_id": previous_id})
    events.record(session, kind="run.started", actor=user, subject=run,
                  data={"version_id": run.version_id, "model": run.model, "variant": variant,
                        "feedback": bool(feedback)})
    run.heartbeat_at = utcnow()  # while queued: when it was sent (see sweep_stale_runs)
    enqueue_after_commit(session, "runs.execute", run.id, on_refused=_run_refused(run.id))
    session.flush()
    return run


def _run_refused(run_id: int):
    def fail(exc: Exception) -> None:
        from app.db import session_scope

        with session_scope() as session:
            fail_unqueued_run(session, run_id=run_id, reason=f"the task broker is unreachable ({type(exc).__name__}).")
    return fail


def heartbeat_interval(stale_seconds: float) -> float:
    """How often a worker beats: several beats fit in the stale bound, so one slow write is no death."""
    return max(0.5, stale_seconds / 6)


def claim_run(session: Session, *, run_id: int, claimant: str, stale_seconds: float) -> bool:
    """Take the run for one delivery of its task, atomically. A queued run, a running one whose
    heartbeat is stale (its worker died), or one this same delivery held (a retry) can be taken;
    a live run held by another delivery cannot, so a duplicated message never runs it twice. The
    sweep releases a dead holder's claim (claimed_by NULL) when it sends the run again."""
    now = utcnow()
    stale_before = now - timedelta(seconds=stale_seconds)
    taken = session.execute(
        update(Run).where(
            Run.id == run_id,
            or_(Run.status == "queued",
                and_(Run.status == "running",
                     or_(Run.claimed_by.is_(None), Run.heartbeat_at.is_(None), Run.heartbeat_at < stale_before,
                         Run.claimed_by == claimant))))
        .values(status="running", heartbeat_at=now, claimed_by=claimant,
                started_at=func.coalesce(Run.started_at, now))
        .execution_options(synchronize_session=False)
    ).rowcount
    return taken == 1


def beat_heartbeat(session: Session, *, run_id: int, claimant: str) -> bool:
    """The holder says it is alive; False once the run ended or another delivery took it over."""
    return session.execute(
        update(Run).where(Run.id == run_id, Run.claimed_by == claimant, Run.status == "running")
        .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount == 1


def sweep_stale_runs(session: Session, *, stale_seconds: float, max_recoveries: int,
                     broker_queue_empty: bool | None = True) -> dict[str, list[int]]:
    """Beat's sweep: no run stays queued or running with nobody working on it.

    - running, heartbeat older than the bound: its worker died or lost the database; re-sent (the
      pipeline resumes after its last finished stage), or failed with a message after
      `max_recoveries` re-sends;
    - queued, not picked up within the bound while the broker's queue is empty: its message was
      lost (a broker restarted without persistence, or the send failed); re-sent. While messages
      are waiting (`broker_queue_empty` False) the workers are just busy and nothing is re-sent.
    """
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    last_sign = func.coalesce(Run.heartbeat_at, Run.started_at, Run.created_at)
    stale = session.scalars(
        select(Run).where(Run.status.in_(ACTIVE_STATUSES), last_sign < cutoff).order_by(Run.id)
        .with_for_update(skip_locked=True)
    ).all()
    swept: dict[str, list[int]] = {"resent": [], "failed": []}
    for run in stale:
        if run.status == "queued" and broker_queue_empty is False:
            continue
        recoveries = int((run.params or {}).get("recoveries", 0))
        if run.status == "running" and recoveries >= max_recoveries:
            _fail_abandoned(session, run, recoveries)
            swept["failed"].append(run.id)
            continue
        run.params = {**(run.params or {}), "recoveries": recoveries + 1}
        run.heartbeat_at = utcnow()  # the clock starts again for the new delivery,
        run.claimed_by = None  # which may take the run over at once
        events.record(session, kind="run.recovered", subject=run, source="ai",
                      data={"status": run.status, "stale_seconds": stale_seconds, "recoveries": recoveries + 1})
        enqueue_after_commit(session, "runs.execute", run.id)
        swept["resent"].append(run.id)
    session.flush()
    return swept


def _fail_abandoned(session: Session, run: Run, recoveries: int) -> None:
    run.status = "failed"
    run.error = (f"The worker running this run stopped responding {recoveries + 1} times (it was killed or lost "
                 "the database), so Emend stopped the run. The stages that finished are kept; start a new run.")
    run.finished_at = utcnow()
    for stage in session.scalars(select(Stage).where(Stage.run_id == run.id, Stage.status == "running")):
        stage.status = "failed"
        stage.error = run.error
        stage.finished_at = run.finished_at
    events.record(session, kind="run.failed", subject=run, source="ai",
                  data={"error": run.error, "recoveries": recoveries})


def fail_unqueued_run(session: Session, *, run_id: int, reason: str) -> None:
    """The broker refused the run's task after its row was committed: fail it with the reason, so
    the document is not blocked by a run no worker will ever see."""
    run = session.get(Run, run_id, with_for_update=True)
    if run is None or run.status != "queued":
        return
    run.status = "failed"
    run.error = f"Emend could not queue this run: {reason} Start it again once the broker is back."
    run.finished_at = utcnow()
    events.record(session, kind="run.failed", subject=run, source="ai", data={"error": run.error})


def _run_for_write(session: Session, run_id: int, user: User) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound("No such run.")
    access.require_document(session, user, run.document_id, write=True)
    return run


def cancel_run(session: Session, *, run_id: int, user: User) -> Run:
    """Stop a queued or running run; the pipeline notices between stages."""
    run = _run_for_write(session, run_id, user)
    # Lock the row so a finishing worker and the cancel cannot both win (PostgreSQL; SQLite serialises writes).
    session.refresh(run, with_for_update=True)
    if run.status == "cancelled":
        return run
    if run.status not in ACTIVE_STATUSES:
        raise Conflict(f"Run {run.id} has already {run.status}; only a queued or running run can be cancelled.")
    previous = run.status
    run.status = "cancelled"
    run.finished_at = utcnow()
    session.flush()
    events.record(session, kind="run.cancelled", actor=user, subject=run, data={"was": previous})
    session.flush()
    return run


def do_not_repeat(session: Session, *, document_id: int) -> list[dict]:
    """Edits of earlier runs of the document that a person rejected: Feedback Friction's lesson.
    A modified edit is not among them: the person wanted the passage changed, only not to the
    proposal, so a restored version still gets suggestions for text it holds."""
    rows = session.execute(
        select(Edit.original, Edit.replacement, func.max(Edit.id).label("newest"))
        .join(Run, Run.id == Edit.run_id)
        .where(Run.document_id == document_id, Edit.status == "rejected", _by_a_person())
        .group_by(Edit.original, Edit.replacement)
        .order_by(func.max(Edit.id).desc())
        .limit(DO_NOT_REPEAT_LIMIT)
    ).all()
    return [{"original": original, "replacement": replacement} for original, replacement, _ in rows]


LOCALE_GUIDELINES = {
    "en-US": "Spelling locale: en-US (American English).",
    "en-GB": "Spelling locale: en-GB (British English); keep British spellings.",
}


def guidelines_for(session: Session, *, document: Document) -> list[str]:
    """The project's guideline text, then active saved guidelines of the project and the document."""
    out: list[str] = []
    project_text = (document.project.guidelines or "").strip()
    if project_text:
        out.append(project_text)
    rows = session.scalars(
        select(Guideline.text).where(
            Guideline.project_id == document.project_id, Guideline.active.is_(True),
            (Guideline.document_id.is_(None)) | (Guideline.document_id == document.id),
        ).order_by(Guideline.created_at, Guideline.id)
    ).all()
    out.extend(t.strip() for t in rows if t and t.strip())
    # The spelling locale reaches every model as a guideline; the offline reviser reads it too.
    locale_line = LOCALE_GUIDELINES.get(document.project.locale or "auto")
    if locale_line:
        out.append(locale_line)
    return out


def run_detail(session: Session, *, run_id: int, user: User) -> Run:
    """The run with its document, stages and edits (one query plus two selectin loads)."""
    run = session.scalar(
        select(Run).where(Run.id == run_id)
        .options(joinedload(Run.document), selectinload(Run.stages), selectinload(Run.edits))
        .execution_options(populate_existing=True)  # a polling page must see the worker's latest rows
    )
    if run is None:
        raise NotFound("No such run.")
    access.require_document(session, user, run.document_id)
    return run


# ---------------------------------------------------------------- correct-and-rerun

def normalise_parsed_output(stage_name: str, parsed_output, *, text: str, candidates: int = 0):
    """A person's corrected stage output, validated like a model answer and anchored on the version
    text, in the shape the pipeline stores: {"critiques": [...]}, {"edits": [...]}, {"scores": [...]}."""
    from app.llm import parsing

    if isinstance(parsed_output, str):
        raw = parsed_output
    else:
        raw = json.dumps(parsed_output, ensure_ascii=False)
    try:
        if stage_name == "critique":
            return {"critiques": parsing.parse_critiques(raw, text)}
        if stage_name == "propose":
            parsed = parsing.parse_edits(raw, text)
            if parsed.dropped:
                reasons = "; ".join(f"{d.get('original', '?')!r}: {d['reason']}" for d in parsed.dropped[:5])
                raise Invalid(f"Some corrected edits cannot be used: {reasons}.")
            return {"edits": parsed.edits, "dropped": [], "repeats": []}
        if stage_name == "verify":
            return {"scores": parsing.parse_scores(raw, candidates)}
    except parsing.ParseError as exc:
        raise Invalid(f"The corrected {stage_name} output is not usable: {exc.message}") from exc
    raise Invalid(f"Unknown stage {stage_name!r}.")


def critique_rows(*, run: Run, stage: Stage, critiques: list[dict]) -> list[Critique]:
    """Critique rows for a stage's parsed critiques (those not anchored in the text span the whole of it)."""
    rows = []
    for position, c in enumerate(critiques):
        start = c.get("start")
        end = c.get("end")
        if start is None or end is None:
            start, end = 0, 0
        rows.append(Critique(
            run_id=run.id, stage_id=stage.id, version_id=run.version_id, position=position, start=start, end=end,
            segment=c.get("segment") or "", category=(c.get("category") or "general")[:64],
            severity=(c.get("severity") or "medium")[:16], text=c.get("text") or "",
        ))
    return rows


_COPIED_FIELDS = ("name", "model", "messages", "params", "raw_output", "parsed_output", "tokens_in", "tokens_out",
                  "cost", "latency_ms", "attempts", "cached", "error", "started_at", "finished_at", "corrected")


def rerun_from(session: Session, *, run_id: int, position: int, parsed_output, user: User,
               annotation_id: int | None = None) -> Run:
    """A new run on the parent's version: stages before `position` copied, stage `position` replaced
    by the corrected output, the stages after it executed again by the worker. Both runs are kept."""
    parent = session.scalar(select(Run).where(Run.id == run_id).options(selectinload(Run.stages)))
    if parent is None:
        raise NotFound("No such run.")
    document, role = access.require_document(session, user, parent.document_id)
    if role not in ("annotator", "admin") and document.owner_id != user.id:
        raise NotFound("No such run.")
    if parent.status in ACTIVE_STATUSES:
        raise Conflict(f"Run {parent.id} is still {parent.status}; correct it once it has finished.")
    if not 0 <= position < len(STAGE_NAMES):
        raise Invalid(f"Stage position must be between 0 and {len(STAGE_NAMES) - 1}.")
    by_position = {s.position: s for s in parent.stages}
    for p in range(position):
        if p not in by_position or by_position[p].status != "succeeded":
            raise Conflict(f"Stage {p + 1} ({STAGE_NAMES[p]}) of run {parent.id} did not succeed; "
                           "correct that stage first.")
    source = by_position.get(position)
    if source is None:
        raise Conflict(f"Run {parent.id} never reached the {STAGE_NAMES[position]} stage.")

    text = session.get(Version, parent.version_id).text
    candidates = 0
    if STAGE_NAMES[position] == "verify":
        candidates = len((by_position[1].parsed_output or {}).get("edits") or [])
    corrected = normalise_parsed_output(STAGE_NAMES[position], parsed_output, text=text, candidates=candidates)

    run = Run(
        project_id=parent.project_id, document_id=parent.document_id, version_id=parent.version_id,
        parent_run_id=parent.id, rerun_from_position=position, correction_annotation_id=annotation_id,
        variant=parent.variant, model=parent.model, params=dict(parent.params or {}), status="queued",
        feedback=parent.feedback, created_by_id=user.id,
    )
    session.add(run)
    session.flush()
    stages = []
    for p in range(position + 1):
        src = by_position[p]
        stage = Stage(run_id=run.id, position=p, **{f: getattr(src, f) for f in _COPIED_FIELDS})
        stage.status = "succeeded"
        if p == position:
            stage.parsed_output = corrected
            stage.corrected = True
            stage.error = None
        session.add(stage)
        stages.append(stage)
    session.flush()
    if stages[0].name == "critique":
        session.add_all(critique_rows(run=run, stage=stages[0],
                                      critiques=(stages[0].parsed_output or {}).get("critiques") or []))
    run.tokens_in = sum(s.tokens_in for s in stages)
    run.tokens_out = sum(s.tokens_out for s in stages)
    run.cost = sum(s.cost for s in stages)
    session.flush()
    events.record(session, kind="run.rerun", actor=user, subject=run,
                  data={"parent_run_id": parent.id, "position": position, "stage": STAGE_NAMES[position],
                        "annotation_id": annotation_id})
    enqueue_after_commit(session, "runs.execute", run.id, on_refused=_run_refused(run.id))
    session.flush()
    return run
