"""Execute a run: critique → propose → verify over each chunk, then the edits a person decides on.

A version is split at paragraph breaks into chunks (app/runs/chunking.py, EMEND_CHUNK_CHARS, frozen
on the run); a run is stages × chunks, and each unit (one stage over one chunk) is a RunChunk row.
Each chunk goes through its three stages in order; chunks run concurrently in a thread pool as wide
as the model's concurrency (the gateway's `complete` waits for a model slot). Offsets the model
gives inside a chunk are shifted by the chunk's start, so critiques and edits keep document offsets.
When the last chunk of a stage is stored, the stage row gets the merged, document-level output
(what correct-and-rerun, the trace and the edits read), in the same transaction.

Called by the Celery task `runs.execute` (workers/run_tasks.py), which is `acks_late`: a task may
be delivered again after a worker died, so `execute` is idempotent. It skips the units already done,
reuses a unit row left half-done, and creates critiques and edits once (the unique
(run_id, position) of stages and (run_id, position, chunk) of units are the backstop).

Transactions are short: one to prepare a unit, none while the model is called, one to store its
answer. Proposed edits are candidates in the propose stage's parsed output until the verifier has
scored them; only those at or above the project's threshold become Edit rows.
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import SessionLocal, get_engine, utcnow
from app.events import service as events
from app.llm import errors as model_errors
from app.llm import parsing, prompts
from app.llm.cache import ShortSessionCache
from app.llm.gateway import ModelError, ModelSettings, complete
from app.models import Critique, Document, Edit, Project, Run, RunChunk, Stage, Version
from app.models.runs import STAGE_NAMES
from app.runs import chunking, service

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
DONE_STAGE_STATUSES = ("succeeded", "skipped")
SKIPPED_VERIFY = {"scores": [], "note": "No candidate edits to verify."}


class _Stop(Exception):
    """The run must not go on (cancelled, finished, failed, or taken by another worker)."""


class StageFailed(Exception):
    def __init__(self, message: str, *, raw: str | None = None, call=None, attempts: int = 0, latency_ms: int = 0,
                 detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.raw = raw
        self.call = call
        self.attempts = attempts
        self.latency_ms = latency_ms
        self.detail = detail or message


def _default_factory() -> Session:
    get_engine()
    return SessionLocal()


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
    chunks: list[tuple[int, int]]
    stages: dict[int, dict] = field(default_factory=dict)  # position → merged output of finished stages
    units: dict[tuple[int, int], dict] = field(default_factory=dict)  # (position, chunk) → output, doc offsets
    stage_ids: dict[int, int] = field(default_factory=dict)
    rejected: list[dict] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cache: object | None = None  # a response cache given by the caller (propose_text); else one on `factory`

    def part(self, chunk: int) -> tuple[int, int, int, int] | None:
        if len(self.chunks) == 1:
            return None
        start, end = self.chunks[chunk]
        return chunk, len(self.chunks), start, end

    def chunk_done(self, chunk: int) -> bool:
        return all(p in self.stages or (p, chunk) in self.units for p in range(len(STAGE_NAMES)))


def execute(run_id: int, *, session_factory: SessionFactory | None = None) -> None:
    """Run (or resume) the pipeline of one run. Never raises for model or parse failures: they
    fail the run with a message. Unexpected errors fail the run too, keeping earlier units."""
    factory = session_factory or _default_factory
    try:
        ctx = _begin(factory, run_id)
        if ctx is None:
            return
        todo = [i for i in range(len(ctx.chunks)) if not ctx.chunk_done(i)]
        _map_units(factory, ctx, todo, min(len(todo), max(1, get_settings().model_concurrency)))
        _finalize_remaining(factory, ctx)
        _finish(factory, ctx)
    except _Stop:
        return
    except (OperationalError, InterfaceError):
        raise  # the database is away: the task retries (workers/run_tasks.py); nothing failed
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
        params = dict(run.params or {})
        if "chunk_chars" not in params:  # frozen at the first delivery: a resumed run finds the same chunks
            params["chunk_chars"] = get_settings().chunk_chars
            run.params = params
        chunks = chunking.split(version.text, int(params["chunk_chars"]))
        run.chunk_count = len(chunks)
        settings = ModelSettings(
            model=run.model,
            temperature=float(params.get("temperature", project.temperature)),
            # Per chunk, not per document: a chunk's answer fits the project's limit.
            max_tokens=int(params.get("max_tokens", project.max_tokens)),
            timeout=float(params.get("timeout", project.timeout_seconds)),
            max_retries=int(params.get("max_retries", project.max_retries)),
            cache=bool(project.cache_enabled),
            api_base=params.get("api_base") or None,
        )
        ctx = _Context(
            run_id=run.id, document_id=run.document_id, version_id=run.version_id, text=version.text,
            feedback=run.feedback or "", guidelines=[*service.guidelines_for(session, document=document),
                                     *([params["instructions"]] if params.get("instructions") else [])],
            settings=settings, threshold=float(params.get("verify_threshold", project.verify_threshold)),
            use_cache=bool(project.cache_enabled), chunks=chunks,
        )
        for stage in session.scalars(select(Stage).where(Stage.run_id == run.id)):
            ctx.stage_ids[stage.position] = stage.id
            if stage.status in DONE_STAGE_STATUSES:
                ctx.stages[stage.position] = stage.parsed_output or {}
        for unit in session.scalars(select(RunChunk).where(RunChunk.run_id == run.id,
                                                           RunChunk.status.in_(DONE_STAGE_STATUSES))):
            ctx.units[(unit.position, unit.chunk)] = unit.parsed_output or {}
        session.commit()
    return ctx


def _check_active(factory: SessionFactory, run_id: int) -> None:
    with factory() as session:
        status = session.scalar(select(Run.status).where(Run.id == run_id))
    if status not in service.ACTIVE_STATUSES:
        raise _Stop


def _next_unit(factory: SessionFactory, ctx: _Context, chunk: int) -> bool:
    """Run the chunk's next stage not yet done; True while the chunk has more to do."""
    pending = [p for p in range(len(STAGE_NAMES)) if p not in ctx.stages and (p, chunk) not in ctx.units]
    if not pending:
        return False
    if ctx.stop.is_set():
        raise _Stop
    _check_active(factory, ctx.run_id)
    _run_unit(factory, ctx, pending[0], STAGE_NAMES[pending[0]], chunk)
    return len(pending) > 1


def _map_units(factory: SessionFactory, ctx: _Context, chunks: list[int], width: int, *, next_unit=None) -> None:
    """Every unit of the chunks, `width` at a time. A unit, once done, queues its chunk's next stage
    at the back: the pool always has a ready unit while any is left, so the model's slots stay busy
    (a chunk at a time per thread would leave slots idle on the last round of chunks). `next_unit`
    is `_next_unit` (rows) or `_memory_unit` (propose_text): the same loop for runs and replays."""
    next_unit = next_unit or _next_unit
    if width <= 1:  # one at a time: no pool
        for chunk in chunks:
            while next_unit(factory, ctx, chunk):
                pass
        return
    lock = threading.Lock()
    finished = threading.Event()
    failures: list[BaseException] = []
    outstanding = len(chunks)

    with ThreadPoolExecutor(max_workers=width, thread_name_prefix=f"emend-run-{ctx.run_id}") as pool:
        def step(chunk: int) -> None:
            nonlocal outstanding
            more = False
            try:
                more = next_unit(factory, ctx, chunk)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, once every unit has ended
                failures.append(exc)
            with lock:
                if more and not failures:
                    outstanding += 1
                    pool.submit(step, chunk)
                outstanding -= 1
                if outstanding == 0:
                    finished.set()

        for chunk in chunks:
            pool.submit(step, chunk)
        finished.wait()
    unexpected = [exc for exc in failures if not isinstance(exc, _Stop)]
    if unexpected:
        raise unexpected[0]
    if failures:
        raise _Stop


# ---------------------------------------------------------------- chunk inputs and outputs

def _in_chunk(ctx: _Context, chunk: int, start) -> bool:
    lo, hi = ctx.chunks[chunk]
    if start is None:
        return chunk == 0  # a critique of the document as a whole goes with its first chunk
    return lo <= start < hi or (chunk == len(ctx.chunks) - 1 and start == hi)


def _input(ctx: _Context, position: int, chunk: int) -> dict:
    """The output of stage `position` for one chunk, with document offsets: the unit's own output,
    or the chunk's share of a whole stage's output (a corrected stage of a rerun has no units)."""
    unit = ctx.units.get((position, chunk))
    if unit is not None:
        return unit
    whole = ctx.stages.get(position) or {}
    key = "critiques" if position == 0 else "edits"
    return {key: [item for item in whole.get(key) or [] if _in_chunk(ctx, chunk, item.get("start"))]}


def _local(items: list[dict], offset: int) -> list[dict]:
    """Items with document offsets, as the chunk's prompt shows them (offsets within the chunk)."""
    out = []
    for item in items:
        copy = dict(item)
        for key in ("start", "end"):
            if isinstance(copy.get(key), int):
                copy[key] -= offset
        out.append(copy)
    return out


def _shift(items: list[dict], offset: int) -> list[dict]:
    return _local(items, -offset)


def _rejected(factory: SessionFactory, ctx: _Context) -> list[dict]:
    with ctx.lock:
        if ctx.rejected is None:
            with factory() as session:
                ctx.rejected = service.do_not_repeat(session, document_id=ctx.document_id)
        return ctx.rejected


def _messages(ctx: _Context, name: str, chunk: int, rejected: list[dict]) -> list[dict]:
    start, end = ctx.chunks[chunk]
    text = ctx.text[start:end]
    part = ctx.part(chunk)
    if name == "critique":
        return prompts.critique_messages(text=text, guidelines=ctx.guidelines, feedback=ctx.feedback, part=part)
    if name == "propose":
        # Only the rejections this chunk could repeat: the prompt stays within a small context.
        relevant = [d for d in rejected if d["original"] and d["original"] in text] if part else rejected
        return prompts.propose_messages(text=text, critiques=_local(_input(ctx, 0, chunk).get("critiques") or [], start),
                                        guidelines=ctx.guidelines, feedback=ctx.feedback,
                                        do_not_repeat=relevant, part=part)
    return prompts.verify_messages(text=text, edits=_local(_input(ctx, 1, chunk).get("edits") or [], start),
                                   part=part)


def _stage_row(session: Session, ctx: _Context, position: int, name: str) -> Stage:
    """The stage row of `position`, created by the first of its units (the others find it)."""
    stage = session.scalar(select(Stage).where(Stage.run_id == ctx.run_id, Stage.position == position))
    if stage is not None:
        return stage
    stage = Stage(run_id=ctx.run_id, position=position, name=name, status="running", model=ctx.settings.model,
                  messages=[], params=_params(ctx), started_at=utcnow())
    try:
        with session.begin_nested():
            session.add(stage)
    except IntegrityError:  # another chunk's thread created it at the same moment
        stage = session.scalar(select(Stage).where(Stage.run_id == ctx.run_id, Stage.position == position))
        if stage is None:
            raise _Stop from None
    return stage


def _params(ctx: _Context) -> dict:
    params = {"temperature": ctx.settings.temperature, "max_tokens": ctx.settings.max_tokens,
              "timeout": ctx.settings.timeout, "max_retries": ctx.settings.max_retries,
              "api_base": ctx.settings.api_base}
    if len(ctx.chunks) > 1:
        params["chunks"] = len(ctx.chunks)
    return params


def _prepare(factory: SessionFactory, ctx: _Context, position: int, name: str, chunk: int):
    """Create (or reset a half-done) unit row, marked running; returns (messages, rejected), or None
    when the unit has nothing to do (stored as skipped) or was done meanwhile."""
    start, end = ctx.chunks[chunk]
    skip = name == "verify" and not (_input(ctx, 1, chunk).get("edits") or [])
    rejected = _rejected(factory, ctx) if name == "propose" else []
    messages = None if skip else _messages(ctx, name, chunk, rejected)
    with factory() as session:
        stage = _stage_row(session, ctx, position, name)
        if stage.status in DONE_STAGE_STATUSES:
            ctx.stages[position] = stage.parsed_output or {}
            session.commit()
            return None
        unit = session.scalar(select(RunChunk).where(RunChunk.run_id == ctx.run_id, RunChunk.position == position,
                                                     RunChunk.chunk == chunk))
        if unit is not None and unit.status in DONE_STAGE_STATUSES:
            ctx.units[(position, chunk)] = unit.parsed_output or {}
            session.commit()
            return None
        if unit is None:
            unit = RunChunk(run_id=ctx.run_id, stage_id=stage.id, position=position, chunk=chunk,
                            start=start, end=end)
            session.add(unit)
        stage.status = "running"
        stage.error = None
        unit.started_at = utcnow()
        unit.error = unit.error_detail = unit.raw_output = unit.parsed_output = None
        unit.model = ctx.settings.model
        unit.messages = messages or []
        unit.status = "running"
        if skip:
            unit.status = "skipped"
            unit.parsed_output = dict(SKIPPED_VERIFY)
            unit.finished_at = utcnow()
        try:
            session.commit()
        except IntegrityError:  # another worker created this unit at the same moment
            raise _Stop from None
        ctx.stage_ids[position] = stage.id
    if skip:
        _store(factory, ctx, position, name, chunk, None, dict(SKIPPED_VERIFY), skipped=True)
        return None
    return messages, rejected


def _call(factory: SessionFactory, ctx: _Context, name: str, messages: list[dict]):
    cache = ctx.cache if ctx.cache is not None else ShortSessionCache(factory) if ctx.use_cache else None
    try:
        return complete(messages, ctx.settings, json_schema=prompts.schema_for(name), cache=cache)
    except ModelError as exc:
        problem = model_errors.describe(exc, model=ctx.settings.model, api_base=ctx.settings.api_base,
                                        timeout=ctx.settings.timeout)
        raise StageFailed(problem.message, raw=exc.raw, attempts=exc.attempts, latency_ms=exc.latency_ms,
                          detail=problem.detail) from exc


def _parse(ctx: _Context, name: str, chunk: int, call, rejected: list[dict]) -> dict:
    start, end = ctx.chunks[chunk]
    text = ctx.text[start:end]
    try:
        if name == "critique":
            return {"critiques": _shift(parsing.parse_critiques(call.content, text), start)}
        if name == "propose":
            parsed = parsing.parse_edits(call.content, text)
            banned = {(d["original"], d["replacement"]) for d in rejected}
            kept, repeats = [], []
            for edit in _shift(parsed.edits, start):
                (repeats if (edit["original"], edit["replacement"]) in banned else kept).append(edit)
            return {"edits": kept, "dropped": _shift(parsed.dropped, start), "repeats": repeats}
        candidates = _input(ctx, 1, chunk).get("edits") or []
        return {"scores": parsing.parse_scores(call.content, len(candidates)), "threshold": ctx.threshold}
    except parsing.ParseError as exc:
        raise StageFailed(exc.message, raw=call.content, call=call) from exc


def _run_unit(factory: SessionFactory, ctx: _Context, position: int, name: str, chunk: int) -> None:
    prepared = _prepare(factory, ctx, position, name, chunk)
    if prepared is None:
        return
    messages, rejected = prepared
    try:
        call = _call(factory, ctx, name, messages)
        parsed = _parse(ctx, name, chunk, call, rejected)
    except StageFailed as failure:
        ctx.stop.set()  # the other chunks start nothing new
        _fail_unit(factory, ctx, position, name, chunk, failure)
        raise _Stop from None
    _store(factory, ctx, position, name, chunk, call, parsed)


def _apply_call(row, call) -> None:
    row.model = call.model
    if isinstance(row, Stage):
        row.params = {**(row.params or {}), **(call.params or {})}
    row.raw_output = call.content
    row.tokens_in = call.tokens_in
    row.tokens_out = call.tokens_out
    row.cost = call.cost
    row.latency_ms = call.latency_ms
    row.attempts = call.attempts
    row.cached = call.cached


def _sum_stages(session: Session, run: Run) -> None:
    tokens_in, tokens_out, cost = session.execute(
        select(func.coalesce(func.sum(Stage.tokens_in), 0), func.coalesce(func.sum(Stage.tokens_out), 0),
               func.coalesce(func.sum(Stage.cost), 0.0)).where(Stage.run_id == run.id)
    ).one()
    run.tokens_in, run.tokens_out, run.cost = int(tokens_in), int(tokens_out), float(cost)


def _sum_units(session: Session, stage: Stage) -> int:
    """The stage's accounting from its units so far, in one aggregate query (the page shows tokens
    growing); returns the number of units done."""
    done = RunChunk.status.in_(DONE_STAGE_STATUSES)
    row = session.execute(
        select(func.coalesce(func.sum(RunChunk.tokens_in), 0), func.coalesce(func.sum(RunChunk.tokens_out), 0),
               func.coalesce(func.sum(RunChunk.cost), 0.0), func.coalesce(func.sum(RunChunk.latency_ms), 0),
               func.coalesce(func.sum(RunChunk.attempts), 0),
               func.count(RunChunk.id).filter(done),
               func.count(RunChunk.id).filter(RunChunk.status == "skipped"),
               func.count(RunChunk.id).filter(RunChunk.cached.is_(True)))
        .where(RunChunk.stage_id == stage.id)
    ).one()
    tokens_in, tokens_out, cost, latency, attempts, finished, skipped, cached = row
    stage.tokens_in, stage.tokens_out, stage.cost = int(tokens_in), int(tokens_out), float(cost)
    stage.latency_ms, stage.attempts = int(latency), int(attempts)
    stage.cached = finished > skipped and cached == finished - skipped
    return int(finished)


def _stage_units(session: Session, stage: Stage) -> list[RunChunk]:
    return list(session.scalars(select(RunChunk).where(RunChunk.stage_id == stage.id).order_by(RunChunk.chunk)))


def _store(factory: SessionFactory, ctx: _Context, position: int, name: str, chunk: int, call, parsed: dict,
           *, skipped: bool = False) -> None:
    with factory() as session:
        # The run row's lock orders the units of one run: the last one to store sees every other.
        run = session.get(Run, ctx.run_id, with_for_update=True)
        unit = session.scalar(select(RunChunk).where(RunChunk.run_id == ctx.run_id, RunChunk.position == position,
                                                     RunChunk.chunk == chunk))
        if unit is None or (unit.status in DONE_STAGE_STATUSES and not skipped):
            raise _Stop  # another delivery finished this unit meanwhile
        if call is not None:
            _apply_call(unit, call)
        unit.parsed_output = parsed
        unit.status = "skipped" if skipped else "succeeded"
        unit.finished_at = unit.finished_at or utcnow()
        session.flush()
        stage = session.get(Stage, unit.stage_id)
        finished = _sum_units(session, stage)
        if stage.status not in DONE_STAGE_STATUSES and finished == len(ctx.chunks):
            _finalize_stage(session, ctx, run, stage, _stage_units(session, stage))
        _sum_stages(session, run)
        session.commit()
        ctx.units[(position, chunk)] = parsed
        # The unit is kept either way; a run cancelled during the call goes no further.
        if run.status not in service.ACTIVE_STATUSES:
            ctx.stop.set()
            raise _Stop


def _merge(name: str, outputs: list[dict], threshold: float) -> dict:
    if name == "critique":
        return {"critiques": [c for out in outputs for c in out.get("critiques") or []]}
    if name == "propose":
        return {key: [item for out in outputs for item in out.get(key) or []]
                for key in ("edits", "dropped", "repeats")}
    return {"scores": [s for out in outputs for s in out.get("scores") or []], "threshold": threshold}


def _finalize_stage(session: Session, ctx: _Context, run: Run, stage: Stage, units: list[RunChunk]) -> None:
    """Every unit of the stage is done: the stage row gets the merged, document-level output."""
    all_skipped = all(u.status == "skipped" for u in units)
    parsed = dict(SKIPPED_VERIFY) if all_skipped else _merge(stage.name, [u.parsed_output or {} for u in units],
                                                              ctx.threshold)
    if len(units) == 1 and not all_skipped:
        # One chunk: the stage shows its one call, as it always has.
        only = units[0]
        stage.messages = only.messages
        stage.raw_output = only.raw_output
        stage.model = only.model
    stage.parsed_output = parsed
    stage.status = "skipped" if all_skipped else "succeeded"
    stage.finished_at = utcnow()
    session.flush()
    if stage.name == "critique":
        exists = session.scalar(select(func.count(Critique.id)).where(Critique.run_id == run.id))
        if not exists:
            session.add_all(service.critique_rows(run=run, stage=stage, critiques=parsed["critiques"]))
    if stage.name == "propose":
        run.dropped_repeats = len(parsed.get("repeats") or [])
    ctx.stages[stage.position] = parsed


def _finalize_remaining(factory: SessionFactory, ctx: _Context) -> None:
    """A stage whose units are all done but was not merged (an interrupted store) is merged now."""
    missing = [p for p in range(len(STAGE_NAMES)) if p not in ctx.stages]
    if not missing:
        return
    with factory() as session:
        run = session.get(Run, ctx.run_id, with_for_update=True)
        for position in missing:
            stage = session.scalar(select(Stage).where(Stage.run_id == ctx.run_id, Stage.position == position))
            if stage is None:
                raise _Stop
            if stage.status in DONE_STAGE_STATUSES:
                ctx.stages[position] = stage.parsed_output or {}
                continue
            finished = _sum_units(session, stage)
            if finished != len(ctx.chunks):
                raise _Stop
            _finalize_stage(session, ctx, run, stage, _stage_units(session, stage))
        _sum_stages(session, run)
        session.commit()


def _counts(session: Session, run: Run) -> dict:
    return {
        "edits": session.scalar(select(func.count(Edit.id)).where(Edit.run_id == run.id)) or 0,
        "critiques": session.scalar(select(func.count(Critique.id)).where(Critique.run_id == run.id)) or 0,
        "dropped_repeats": run.dropped_repeats, "dropped_by_verify": run.dropped_by_verify,
        "tokens_in": run.tokens_in, "tokens_out": run.tokens_out, "cost": run.cost,
        "chunks": run.chunk_count,
    }


def _fail_unit(factory: SessionFactory, ctx: _Context, position: int, name: str, chunk: int,
               failure: StageFailed) -> None:
    where = f" (chunk {chunk + 1} of {len(ctx.chunks)})" if len(ctx.chunks) > 1 else ""
    with factory() as session:
        run = session.get(Run, ctx.run_id, with_for_update=True)
        unit = session.scalar(select(RunChunk).where(RunChunk.run_id == ctx.run_id, RunChunk.position == position,
                                                     RunChunk.chunk == chunk))
        stage = session.scalar(select(Stage).where(Stage.run_id == ctx.run_id, Stage.position == position))
        rows = [row for row in (unit, stage if len(ctx.chunks) == 1 else None) if row is not None]
        for row in rows:
            if failure.call is not None:
                _apply_call(row, failure.call)
            else:
                row.raw_output = failure.raw
                row.attempts = failure.attempts
                row.latency_ms = failure.latency_ms
        if unit is not None:
            unit.status = "failed"
            unit.error = failure.message
            unit.error_detail = failure.detail
            unit.finished_at = utcnow()
            session.flush()
        if stage is not None:
            if len(ctx.chunks) > 1:
                _sum_units(session, stage)
            stage.status = "failed"
            stage.error = failure.message + where
            stage.finished_at = utcnow()
        session.flush()
        _sum_stages(session, run)
        if run.status in service.ACTIVE_STATUSES:
            run.status = "failed"
            run.error = f"The {name} stage failed{where}: {failure.message}"
            run.error_detail = failure.detail
            run.finished_at = utcnow()
            events.record(session, kind="run.failed", subject=run, source="ai",
                          data={"stage": name, "chunk": chunk, "error": run.error, **_counts(session, run)})
        session.commit()


def _fail_unexpected(factory: SessionFactory, run_id: int, exc: Exception) -> None:
    message = f"Unexpected error: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
    with factory() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or run.status not in service.ACTIVE_STATUSES:
            return
        stage_name = None
        for unit in session.scalars(select(RunChunk).where(RunChunk.run_id == run_id, RunChunk.status == "running")):
            unit.status = "failed"
            unit.error = message
            unit.finished_at = utcnow()
        for stage in session.scalars(select(Stage).where(Stage.run_id == run_id, Stage.status == "running")):
            stage.status = "failed"
            stage.error = message
            stage.finished_at = utcnow()
            stage_name = stage.name
        run.status = "failed"
        run.error = f"The {stage_name} stage failed. {message}" if stage_name else message
        run.error_detail = message
        run.finished_at = utcnow()
        session.flush()
        events.record(session, kind="run.failed", subject=run, source="ai",
                      data={"stage": stage_name, "error": run.error, **_counts(session, run)})
        session.commit()


def verified(candidates: list[dict], scores: list, threshold: float) -> list[tuple[dict, float | None]]:
    """(candidate, verify score) of the candidates kept: scored at or above the threshold, or not
    scored at all (an edit the verifier gave no score is shown unscored rather than silently lost)."""
    kept = []
    for index, candidate in enumerate(candidates):
        score = scores[index] if index < len(scores) else None
        if score is None or score >= threshold:
            kept.append((candidate, score))
    return kept


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
            rows = []
            kept = verified(candidates, scores, ctx.threshold)
            dropped = len(candidates) - len(kept)
            for candidate, score in kept:
                rows.append(Edit(
                    run_id=run.id, stage_id=propose.id, version_id=run.version_id,
                    start=candidate["start"], end=candidate["end"], original=candidate["original"],
                    replacement=candidate["replacement"], intent=candidate.get("intent") or "other",
                    rationale=candidate.get("rationale") or "", confidence=float(candidate.get("confidence", 0.5)),
                    verify_score=score, status="pending",
                ))
            session.add_all(rows)
            run.dropped_by_verify = dropped
        run.dropped_repeats = len((propose.parsed_output or {}).get("repeats") or [])
        session.flush()
        _sum_stages(session, run)
        run.status = "succeeded"
        run.error = None
        run.error_detail = None
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


# ---------------------------------------------------------------- without rows (replays)

@dataclass
class Proposal:
    """What the pipeline proposes on one text when nothing is stored (propose_text)."""
    edits: list[dict]
    calls: int = 0
    cached_calls: int = 0
    latency_ms: int = 0
    error: str | None = None
    stages: list[str] = field(default_factory=list)
    chunks: int = 1


def _memory_unit(factory: SessionFactory | None, ctx: _Context, chunk: int, *, out: Proposal) -> bool:
    """`_next_unit` for propose_text: the chunk's next stage, its output kept in `ctx.units` only
    and its call counted in `out`."""
    pending = [p for p in range(len(STAGE_NAMES)) if (p, chunk) not in ctx.units]
    if not pending:
        return False
    if ctx.stop.is_set():
        raise _Stop
    position = pending[0]
    name = STAGE_NAMES[position]
    if name == "verify" and not (_input(ctx, 1, chunk).get("edits") or []):
        ctx.units[(position, chunk)] = dict(SKIPPED_VERIFY)
        return False
    try:
        call = _call(factory, ctx, name, _messages(ctx, name, chunk, []))
        parsed = _parse(ctx, name, chunk, call, [])
    except StageFailed:
        ctx.stop.set()  # the other chunks start nothing new
        raise
    with ctx.lock:
        ctx.units[(position, chunk)] = parsed
        out.calls += 1
        out.cached_calls += int(call.cached)
        out.latency_ms += call.latency_ms
        out.stages.append(name)
    return len(pending) > 1


def propose_text(text: str, *, settings: ModelSettings, guidelines: list[str], feedback: str = "",
                 threshold: float = 0.5, cache=None, chunk_chars: int | None = None,
                 session_factory: SessionFactory | None = None) -> Proposal:
    """The pipeline on a text without a run: the same chunks, stages, prompts, parsing, offsets and
    verify threshold as `execute`, through the same unit loop, but nothing is stored and nothing
    is repeated-filtered. Replays call it (app/replays). `cache` is a ResponseCache, or None for
    none; chunks run concurrently within the model slots, like a run's."""
    chunks = chunking.split(text, int(chunk_chars or get_settings().chunk_chars))
    ctx = _Context(run_id=0, document_id=0, version_id=0, text=text, feedback=feedback or "",
                   guidelines=list(guidelines), settings=settings, threshold=float(threshold),
                   use_cache=False, chunks=chunks, cache=cache)
    out = Proposal(edits=[], chunks=len(chunks))
    todo = list(range(len(chunks)))
    width = min(len(todo), max(1, get_settings().model_concurrency))
    try:
        _map_units(session_factory, ctx, todo, width, next_unit=functools.partial(_memory_unit, out=out))
    except StageFailed as failure:
        out.error = failure.message
    if out.error:
        return out
    merged = {p: _merge(STAGE_NAMES[p], [ctx.units[(p, c)] for c in todo], ctx.threshold)
              for p in range(len(STAGE_NAMES))}
    candidates = merged[1].get("edits") or []
    for candidate, score in verified(candidates, merged[2].get("scores") or [], ctx.threshold):
        out.edits.append({"start": candidate["start"], "end": candidate["end"], "original": candidate["original"],
                          "replacement": candidate["replacement"], "intent": candidate.get("intent") or "other",
                          "confidence": float(candidate.get("confidence", 0.5)), "verify_score": score})
    return out
