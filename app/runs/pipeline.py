"""Execute a run: critique → propose → verify, then the edits a person will decide on.

Called by the Celery task `runs.execute` (workers/run_tasks.py), which is `acks_late`: a task
may be delivered again after a worker died, so `execute` is idempotent. It resumes after the
last stage that finished, reuses a stage row left half-done, and creates critiques with their
stage and edits with the run's final status in one transaction each, so nothing is made twice
(the unique (run_id, position) of stages is the backstop against two workers at once).

Transactions are short: one to prepare a stage, none while the model is called, one to store
its answer. Proposed edits are candidates in the propose stage's parsed output until the
verifier has scored them; only those at or above the project's threshold become Edit rows.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.db import SessionLocal, get_engine, utcnow
from app.events import service as events
from app.llm import parsing, prompts
from app.llm.cache import DbResponseCache
from app.llm.gateway import ModelError, ModelSettings, complete
from app.models import Critique, Document, Edit, Project, Run, Stage, Version
from app.models.runs import STAGE_NAMES
from app.runs import service

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
DONE_STAGE_STATUSES = ("succeeded", "skipped")


class _Stop(Exception):
    """The run must not go on (cancelled, finished, or taken by another worker); nothing failed."""


class StageFailed(Exception):
    def __init__(self, message: str, *, raw: str | None = None, call=None, attempts: int = 0, latency_ms: int = 0):
        super().__init__(message)
        self.message = message
        self.raw = raw
        self.call = call
        self.attempts = attempts
        self.latency_ms = latency_ms


def _default_factory() -> Session:
    get_engine()
    return SessionLocal()


class _ShortSessionCache:
    """The DB response cache, each lookup in its own short transaction (never open during a call)."""

    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory

    def get(self, key: str) -> dict | None:
        with self.factory() as session:
            return DbResponseCache(session).get(key)

    def put(self, key: str, model: str, response: dict) -> None:
        try:
            with self.factory() as session:
                DbResponseCache(session).put(key, model, response)
                session.commit()
        except IntegrityError:  # another worker stored the same answer first
            pass


@dataclass
class _Context:
    run_id: int
    document_id: int
    version_id: int
    text: str
    feedback: str
    guidelines: list[str]
    settings: ModelSettings
    threshold: float
    use_cache: bool
    outputs: dict[int, dict] = field(default_factory=dict)  # position → parsed output of finished stages


def execute(run_id: int, *, session_factory: SessionFactory | None = None) -> None:
    """Run (or resume) the pipeline of one run. Never raises for model or parse failures: they
    fail the run with a message. Unexpected errors fail the run too, keeping earlier stages."""
    factory = session_factory or _default_factory
    try:
        ctx = _begin(factory, run_id)
        if ctx is None:
            return
        for position, name in enumerate(STAGE_NAMES):
            if position in ctx.outputs:
                continue
            _check_active(factory, run_id)
            _run_stage(factory, ctx, position, name)
        _finish(factory, ctx)
    except _Stop:
        return
    except (OperationalError, InterfaceError):
        raise  # the database is away: the task retries (workers/run_tasks.py), nothing failed
    except Exception as exc:  # anything else: fail the run visibly rather than leave it "running"
        log.exception("run %s failed unexpectedly", run_id)
        _fail_unexpected(factory, run_id, exc)


# ---------------------------------------------------------------- steps

def _begin(factory: SessionFactory, run_id: int) -> _Context | None:
    with factory() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None:
            log.warning("runs.execute: run %s does not exist", run_id)
            return None
        if run.status not in service.ACTIVE_STATUSES:
            return None  # finished, failed or cancelled: a late or repeated delivery
        if run.status == "queued":
            run.status = "running"
            run.started_at = utcnow()
        document = session.get(Document, run.document_id)
        project = session.get(Project, run.project_id)
        version = session.get(Version, run.version_id)
        params = run.params or {}
        settings = ModelSettings(
            model=run.model,
            temperature=float(params.get("temperature", project.temperature)),
            max_tokens=int(params.get("max_tokens", project.max_tokens)),
            timeout=float(params.get("timeout", project.timeout_seconds)),
            max_retries=int(params.get("max_retries", project.max_retries)),
            cache=bool(project.cache_enabled),
            api_base=params.get("api_base") or None,
        )
        ctx = _Context(
            run_id=run.id, document_id=run.document_id, version_id=run.version_id, text=version.text,
            feedback=run.feedback or "", guidelines=service.guidelines_for(session, document=document),
            settings=settings, threshold=float(params.get("verify_threshold", project.verify_threshold)),
            use_cache=bool(project.cache_enabled),
        )
        for stage in session.scalars(select(Stage).where(Stage.run_id == run.id)):
            if stage.status in DONE_STAGE_STATUSES:
                ctx.outputs[stage.position] = stage.parsed_output or {}
        session.commit()
    return ctx


def _check_active(factory: SessionFactory, run_id: int) -> None:
    with factory() as session:
        status = session.scalar(select(Run.status).where(Run.id == run_id))
    if status not in service.ACTIVE_STATUSES:
        raise _Stop


def _messages(ctx: _Context, name: str, do_not_repeat: list[dict]) -> list[dict]:
    if name == "critique":
        return prompts.critique_messages(text=ctx.text, guidelines=ctx.guidelines, feedback=ctx.feedback)
    if name == "propose":
        return prompts.propose_messages(text=ctx.text, critiques=ctx.outputs[0].get("critiques") or [],
                                        guidelines=ctx.guidelines, feedback=ctx.feedback,
                                        do_not_repeat=do_not_repeat)
    return prompts.verify_messages(text=ctx.text, edits=ctx.outputs[1].get("edits") or [])


def _prepare(factory: SessionFactory, ctx: _Context, position: int, name: str):
    """Create (or reset a half-done) stage row, marked running; returns (messages, do_not_repeat) or
    None when the stage has nothing to do and was stored as skipped."""
    with factory() as session:
        stage = session.scalar(select(Stage).where(Stage.run_id == ctx.run_id, Stage.position == position))
        if stage is not None and stage.status in DONE_STAGE_STATUSES:
            ctx.outputs[position] = stage.parsed_output or {}
            return None
        if stage is None:
            stage = Stage(run_id=ctx.run_id, position=position, name=name)
            session.add(stage)
        rejected = service.do_not_repeat(session, document_id=ctx.document_id) if name == "propose" else []
        skip = name == "verify" and not (ctx.outputs[1].get("edits") or [])
        stage.name = name
        stage.started_at = utcnow()
        stage.error = None
        stage.raw_output = None
        stage.parsed_output = None
        stage.corrected = False
        if skip:
            stage.status = "skipped"
            stage.parsed_output = {"scores": [], "note": "No candidate edits to verify."}
            stage.messages = []
            stage.finished_at = utcnow()
            messages = None
        else:
            messages = _messages(ctx, name, rejected)
            stage.status = "running"
            stage.model = ctx.settings.model
            stage.messages = messages
            stage.params = {"temperature": ctx.settings.temperature, "max_tokens": ctx.settings.max_tokens,
                            "timeout": ctx.settings.timeout, "max_retries": ctx.settings.max_retries,
                            "api_base": ctx.settings.api_base}
        try:
            session.commit()
        except IntegrityError:  # another worker created this stage at the same moment
            raise _Stop from None
        if skip:
            ctx.outputs[position] = stage.parsed_output
            return None
        return messages, rejected


def _call(factory: SessionFactory, ctx: _Context, name: str, messages: list[dict]):
    cache = _ShortSessionCache(factory) if ctx.use_cache else None
    try:
        return complete(messages, ctx.settings, json_schema=prompts.schema_for(name), cache=cache)
    except ModelError as exc:
        raise StageFailed(exc.message, raw=exc.raw, attempts=exc.attempts, latency_ms=exc.latency_ms) from exc


def _parse(ctx: _Context, name: str, call, rejected: list[dict]) -> dict:
    try:
        if name == "critique":
            return {"critiques": parsing.parse_critiques(call.content, ctx.text)}
        if name == "propose":
            parsed = parsing.parse_edits(call.content, ctx.text)
            banned = {(d["original"], d["replacement"]) for d in rejected}
            kept, repeats = [], []
            for edit in parsed.edits:
                (repeats if (edit["original"], edit["replacement"]) in banned else kept).append(edit)
            return {"edits": kept, "dropped": parsed.dropped, "repeats": repeats}
        candidates = ctx.outputs[1].get("edits") or []
        return {"scores": parsing.parse_scores(call.content, len(candidates)), "threshold": ctx.threshold}
    except parsing.ParseError as exc:
        raise StageFailed(exc.message, raw=call.content, call=call) from exc


def _run_stage(factory: SessionFactory, ctx: _Context, position: int, name: str) -> None:
    prepared = _prepare(factory, ctx, position, name)
    if prepared is None:
        return
    messages, rejected = prepared
    try:
        call = _call(factory, ctx, name, messages)
        parsed = _parse(ctx, name, call, rejected)
    except StageFailed as failure:
        _fail_stage(factory, ctx, position, name, failure)
        raise _Stop from None
    _store(factory, ctx, position, name, call, parsed)


def _apply_call(stage: Stage, call) -> None:
    stage.model = call.model
    stage.params = {**(stage.params or {}), **(call.params or {})}
    stage.raw_output = call.content
    stage.tokens_in = call.tokens_in
    stage.tokens_out = call.tokens_out
    stage.cost = call.cost
    stage.latency_ms = call.latency_ms
    stage.attempts = call.attempts
    stage.cached = call.cached


def _sum_stages(session: Session, run: Run) -> None:
    tokens_in, tokens_out, cost = session.execute(
        select(func.coalesce(func.sum(Stage.tokens_in), 0), func.coalesce(func.sum(Stage.tokens_out), 0),
               func.coalesce(func.sum(Stage.cost), 0.0)).where(Stage.run_id == run.id)
    ).one()
    run.tokens_in, run.tokens_out, run.cost = int(tokens_in), int(tokens_out), float(cost)


def _store(factory: SessionFactory, ctx: _Context, position: int, name: str, call, parsed: dict) -> None:
    with factory() as session:
        run = session.get(Run, ctx.run_id, with_for_update=True)
        stage = session.scalar(select(Stage).where(Stage.run_id == ctx.run_id, Stage.position == position))
        if stage is None or stage.status in DONE_STAGE_STATUSES:
            raise _Stop  # another delivery finished this stage meanwhile
        _apply_call(stage, call)
        stage.parsed_output = parsed
        stage.status = "succeeded"
        stage.finished_at = utcnow()
        session.flush()
        if name == "critique":
            exists = session.scalar(select(func.count(Critique.id)).where(Critique.run_id == run.id))
            if not exists:
                session.add_all(service.critique_rows(run=run, stage=stage, critiques=parsed["critiques"]))
        if name == "propose":
            run.dropped_repeats = len(parsed["repeats"])
        _sum_stages(session, run)
        session.commit()
        ctx.outputs[position] = parsed
        # The stage is kept either way; a run cancelled during the call goes no further.
        if run.status not in service.ACTIVE_STATUSES:
            raise _Stop


def _counts(session: Session, run: Run) -> dict:
    return {
        "edits": session.scalar(select(func.count(Edit.id)).where(Edit.run_id == run.id)) or 0,
        "critiques": session.scalar(select(func.count(Critique.id)).where(Critique.run_id == run.id)) or 0,
        "dropped_repeats": run.dropped_repeats, "dropped_by_verify": run.dropped_by_verify,
        "tokens_in": run.tokens_in, "tokens_out": run.tokens_out, "cost": run.cost,
    }


def _fail_stage(factory: SessionFactory, ctx: _Context, position: int, name: str, failure: StageFailed) -> None:
    with factory() as session:
        run = session.get(Run, ctx.run_id, with_for_update=True)
        stage = session.scalar(select(Stage).where(Stage.run_id == ctx.run_id, Stage.position == position))
        if stage is not None:
            if failure.call is not None:
                _apply_call(stage, failure.call)
            else:
                stage.raw_output = failure.raw
                stage.attempts = failure.attempts
                stage.latency_ms = failure.latency_ms
            stage.status = "failed"
            stage.error = failure.message
            stage.finished_at = utcnow()
        session.flush()
        _sum_stages(session, run)
        if run.status in service.ACTIVE_STATUSES:
            run.status = "failed"
            run.error = f"The {name} stage failed: {failure.message}"
            run.finished_at = utcnow()
            events.record(session, kind="run.failed", subject=run, source="ai",
                          data={"stage": name, "error": run.error, **_counts(session, run)})
        session.commit()


def _fail_unexpected(factory: SessionFactory, run_id: int, exc: Exception) -> None:
    message = f"Unexpected error: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
    with factory() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or run.status not in service.ACTIVE_STATUSES:
            return
        stage_name = None
        for stage in session.scalars(select(Stage).where(Stage.run_id == run_id, Stage.status == "running")):
            stage.status = "failed"
            stage.error = message
            stage.finished_at = utcnow()
            stage_name = stage.name
        run.status = "failed"
        run.error = f"The {stage_name} stage failed. {message}" if stage_name else message
        run.finished_at = utcnow()
        session.flush()
        events.record(session, kind="run.failed", subject=run, source="ai",
                      data={"stage": stage_name, "error": run.error, **_counts(session, run)})
        session.commit()


def _finish(factory: SessionFactory, ctx: _Context) -> None:
    """Turn verified candidates into pending edits and close the run, in one transaction."""
    with factory() as session:
        run = session.get(Run, ctx.run_id, with_for_update=True)
        if run.status != "running":
            return
        stages = {s.position: s for s in session.scalars(select(Stage).where(Stage.run_id == run.id))}
        propose = stages[1]
        candidates = (propose.parsed_output or {}).get("edits") or []
        scores = (stages[2].parsed_output or {}).get("scores") or []
        already = session.scalar(select(func.count(Edit.id)).where(Edit.run_id == run.id))
        dropped = 0
        if not already:
            for index, candidate in enumerate(candidates):
                score = scores[index] if index < len(scores) else None
                # An edit the verifier gave no score is shown unscored rather than silently lost.
                if score is not None and score < ctx.threshold:
                    dropped += 1
                    continue
                session.add(Edit(
                    run_id=run.id, stage_id=propose.id, version_id=run.version_id,
                    start=candidate["start"], end=candidate["end"], original=candidate["original"],
                    replacement=candidate["replacement"], intent=candidate.get("intent") or "other",
                    rationale=candidate.get("rationale") or "", confidence=float(candidate.get("confidence", 0.5)),
                    verify_score=score, status="pending",
                ))
            run.dropped_by_verify = dropped
        run.dropped_repeats = len((propose.parsed_output or {}).get("repeats") or [])
        session.flush()
        _sum_stages(session, run)
        run.status = "succeeded"
        run.error = None
        run.finished_at = utcnow()
        counts = _counts(session, run)
        document = session.get(Document, run.document_id)
        if (counts["edits"] == 0 and not run.variant and run.parent_run_id is None
                and document.current_version_id == run.version_id):
            document.stop_reason = "no_edits"
        project = session.get(Project, run.project_id)
        if project.shadow_user and counts["edits"]:
            _prefill(session, run)
        events.record(session, kind="run.finished", subject=run, source="ai",
                      data={**counts, "stop_reason": document.stop_reason})
        session.commit()


def _prefill(session: Session, run: Run) -> None:
    """Shadow-user predictions; a failure there must not fail a run whose edits are fine."""
    try:
        from app.annotations.shadow import prefill_predictions

        with session.begin_nested():
            prefill_predictions(session, run=run)
    except Exception:
        log.exception("shadow predictions for run %s failed", run.id)

