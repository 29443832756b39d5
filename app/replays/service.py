"""Replay evaluation: re-run a candidate on logged versions and score it against people's decisions.

An admin names a candidate (model string, prompt variant, temperature) and a slice of the log
(dates, depths, people). The job (`replays.run`) asks the candidate for its edits on every
logged version of the slice — by the pipeline's own chunked path (app/runs/pipeline.py
`propose_text`, through app/replays/candidate.py), through the gateway, cache on, within the model
slots (app/llm/limits.py: at most EMEND_MODEL_CONCURRENCY calls in flight, on twice as many
threads) — stores them one row per version (so a redelivered job resumes), then scores them
(app/replays/scoring.py) and keeps the results.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import project_jobs
from app.accounts import access
from app.bounds import MAX_ID
from app.config import get_settings
from app.db import utcnow
from app.errors import Invalid
from app.events import service as events
from app.jobs import enqueue_after_commit
from app.llm.cache import ShortSessionCache
from app.llm.gateway import ModelSettings
from app.models import Document, Edit, Event, Project, Replay, ReplayItem, Run, User, Variant, Version
from app.replays import candidate as candidates
from app.replays import scoring

log = logging.getLogger(__name__)
SessionFactory = Callable[[], Session]
STORE_EVERY = 8  # finished versions written per transaction
THREADS_PER_SLOT = 2  # threads per model slot (bench/replay_bench.py --threads-per-slot compares)


# ------------------------------------------------------------------ options

def _when(value, *, end: bool) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"Not a date: {text!r} (use YYYY-MM-DD).") from None
    if end and len(text) == 10:
        parsed += timedelta(days=1)  # an end date includes that whole day
    return parsed.isoformat()


def _ints(value) -> list[int]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list | tuple) else str(value).replace(",", " ").split()
    try:
        numbers = sorted({int(x) for x in items})
    except (TypeError, ValueError):
        raise Invalid(f"Expected whole numbers, got {value!r}.") from None
    if any(n < 0 or n > MAX_ID for n in numbers):
        raise Invalid(f"Whole numbers from 0 to {MAX_ID}, please; got {value!r}.")
    return numbers


def normalise(session: Session, project: Project, *, model: str, prompt_variant: str = "", instructions: str = "",
              temperature: float | None = None, since=None, until=None, depths=None, person_ids=None
              ) -> tuple[dict, dict]:
    model = (model or "").strip()
    if not model:
        raise Invalid("Name the candidate's model (a litellm model string).")
    prompt_variant = (prompt_variant or "").strip()[:64]
    instructions = (instructions or "").strip()
    if prompt_variant and not instructions:
        variant = session.scalar(select(Variant).where(Variant.project_id == project.id,
                                                       Variant.name == prompt_variant))
        if variant is not None:
            instructions = variant.instructions
    try:
        temperature = float(project.temperature if temperature in (None, "") else temperature)
    except (TypeError, ValueError):
        raise Invalid("Temperature must be a number.") from None
    if not 0 <= temperature <= 2:
        raise Invalid("Temperature must be between 0 and 2.")
    cand = {"model": model[:200], "prompt_variant": prompt_variant, "instructions": instructions[:4000],
            "temperature": temperature}
    sl = {"since": _when(since, end=False), "until": _when(until, end=True), "depths": _ints(depths),
          "person_ids": _ints(person_ids)}
    return cand, sl


# ------------------------------------------------------------------ rows

def create_replay(session: Session, *, actor: User, project_id: int, name: str = "", enqueue: bool = True,
                  **options) -> Replay:
    """Queue a replay (project admins); `options` are those of `normalise`."""
    project, _role = access.require_project(session, actor, project_id, roles=("admin",))
    cand, sl = normalise(session, project, **options)
    replay = Replay(project_id=project.id, name=(name or "").strip()[:200] or
                    f"{cand['model']}{' / ' + cand['prompt_variant'] if cand['prompt_variant'] else ''}",
                    candidate=cand, slice=sl, status="queued", created_by_id=actor.id)
    session.add(replay)
    session.flush()
    events.record(session, kind="replay.requested", actor=actor, project_id=project.id,
                  data={"replay_id": replay.id, "candidate": cand, "slice": sl})
    if enqueue:
        enqueue_after_commit(session, "replays.run", replay.id)
    return replay


def get_replay(session: Session, *, actor: User, replay_id: int) -> Replay:
    return project_jobs.get_job(session, actor=actor, model=Replay, job_id=replay_id, what="replay")


def list_replays(session: Session, *, actor: User, project_id: int, limit: int = 50) -> list[Replay]:
    return project_jobs.list_jobs(session, actor=actor, model=Replay, project_id=project_id, limit=limit)


def progress_percent(replay: Replay) -> int:
    return project_jobs.percent(replay.status, replay.versions_done, replay.versions_total)


# ------------------------------------------------------------------ the slice

def _slice_filters(replay: Replay) -> list:
    sl = replay.slice or {}
    where = [Run.project_id == replay.project_id, Run.status == "succeeded", Run.parent_run_id.is_(None)]
    if sl.get("since"):
        where.append(Run.created_at >= datetime.fromisoformat(sl["since"]))
    if sl.get("until"):
        where.append(Run.created_at < datetime.fromisoformat(sl["until"]))
    if sl.get("depths"):
        where.append(Version.depth.in_(sl["depths"]))
    return where


def _decided(replay: Replay) -> list:
    where = [Edit.status != "pending", Edit.decision_source == "human"]
    if (replay.slice or {}).get("person_ids"):
        where.append(Edit.decided_by_id.in_(replay.slice["person_ids"]))
    return where


def slice_version_ids(session: Session, replay: Replay) -> list[int]:
    """Logged versions with at least one decision of the slice's people."""
    return list(session.scalars(
        select(Edit.version_id).join(Run, Run.id == Edit.run_id).join(Version, Version.id == Edit.version_id)
        .where(*_slice_filters(replay), *_decided(replay)).group_by(Edit.version_id).order_by(Edit.version_id)))


def _run_propensity(params: dict | None) -> float:
    params = params or {}
    value = params.get("propensity")
    if value is None:
        value = (params.get("assignment") or {}).get("probability")
    try:
        value = float(value) if value is not None else 1.0
    except (TypeError, ValueError):
        value = 1.0
    return min(1.0, max(scoring.MIN_PROPENSITY, value))


def _positions(session: Session, run_ids: set[int]) -> dict[int, int]:
    """edit id → best (smallest) shown position, from the runs' `edits.shown` events."""
    best: dict[int, int] = {}
    ids = sorted(run_ids)
    for i in range(0, len(ids), 500):
        stmt = select(Event.data).where(Event.kind == "edits.shown", Event.run_id.in_(ids[i:i + 500]))
        for (data,) in session.execute(stmt.execution_options(yield_per=200)):
            positions = (data or {}).get("positions") or []
            for j, edit_id in enumerate((data or {}).get("edit_ids") or []):
                value = positions[j] if j < len(positions) else None
                value = value.get("position") if isinstance(value, dict) else value
                if value is not None and (edit_id not in best or int(value) < best[edit_id]):
                    best[int(edit_id)] = int(value)
    return best


def logged_edits(session: Session, replay: Replay) -> tuple[dict[int, list[scoring.Logged]], dict]:
    """The slice's decided logged edits by version, each with its propensity μ, and the exposure model."""
    rows = session.execute(
        select(Edit.id, Edit.version_id, Edit.start, Edit.end, Edit.replacement, Edit.intent, Edit.status,
               Edit.decision_source, Edit.decided_by_id, Run.id, Run.params)
        .join(Run, Run.id == Edit.run_id).join(Version, Version.id == Edit.version_id)
        .where(*_slice_filters(replay)).order_by(Edit.version_id, Edit.start)).all()
    people = set((replay.slice or {}).get("person_ids") or [])
    positions = _positions(session, {r[9] for r in rows})
    # P(a decision | shown at position k), and for edits without logged exposure.
    seen: dict = defaultdict(lambda: [0, 0])
    for r in rows:
        decided = r[6] != "pending" and r[7] == "human"
        entry = seen[positions.get(r[0], "unknown")]
        entry[0] += 1
        entry[1] += int(decided)
    p_feedback = {k: (d / n if n else 1.0) for k, (n, d) in seen.items()}
    by_version: dict[int, list[scoring.Logged]] = defaultdict(list)
    for r in rows:
        if r[6] == "pending" or r[7] != "human" or (people and r[8] not in people):
            continue
        mu = _run_propensity(r[10]) * max(scoring.MIN_PROPENSITY, p_feedback[positions.get(r[0], "unknown")])
        by_version[r[1]].append(scoring.Logged(id=r[0], start=r[2], end=r[3], replacement=r[4], intent=r[5],
                                               status=r[6], mu=max(scoring.MIN_PROPENSITY, mu)))
    exposure = {"shown_positions": {str(k): round(v, 4) for k, v in p_feedback.items()}}
    return by_version, exposure


# ------------------------------------------------------------------ the job

def _settings(project: Project, cand: dict) -> ModelSettings:
    return ModelSettings(model=cand["model"], temperature=float(cand.get("temperature") or 0.0),
                         max_tokens=project.max_tokens, timeout=project.timeout_seconds,
                         max_retries=project.max_retries, cache=True, api_base=get_settings().model_api_base)


def _inputs(session: Session, version_ids: list[int], instructions: str) -> list[tuple[int, str, list[str], str]]:
    """(version id, text, guidelines with the variant's instructions, the logged run's feedback)."""
    from app.runs.service import guidelines_for

    out = []
    rows = session.execute(select(Version.id, Version.text, Version.document_id)
                           .where(Version.id.in_(version_ids))).all()
    guidelines: dict[int, list[str]] = {}
    feedback_of: dict[int, str] = {}
    for version_id, feedback in session.execute(  # the latest logged run's feedback, one query for all
            select(Run.version_id, Run.feedback).where(Run.version_id.in_(version_ids), Run.status == "succeeded")
            .order_by(Run.id)):
        feedback_of[version_id] = feedback or ""
    for version_id, text, document_id in rows:
        if document_id not in guidelines:
            guidelines[document_id] = guidelines_for(session, document=session.get(Document, document_id))
        feedback = feedback_of.get(version_id, "")
        out.append((version_id, text, candidates.guidelines_with(guidelines[document_id], instructions), feedback))
    return out


def run_replay(replay_id: int, *, session_factory: SessionFactory, propose=None) -> Replay | None:
    """Run (or resume) one replay. `propose` replaces candidate.propose (tests)."""
    propose = propose or candidates.propose
    with session_factory() as session:
        replay = session.get(Replay, replay_id, with_for_update=True)
        if replay is None or replay.status in ("succeeded", "failed", "cancelled"):
            return replay
        project = session.get(Project, replay.project_id)
        replay.status = "running"
        replay.started_at = replay.started_at or utcnow()
        version_ids = slice_version_ids(session, replay)
        done = set(session.scalars(select(ReplayItem.version_id).where(ReplayItem.replay_id == replay.id)))
        replay.versions_total = len(version_ids)
        cand = dict(replay.candidate)
        if "chunk_chars" not in cand:  # frozen at the first delivery: a resumed replay finds the same chunks
            cand["chunk_chars"] = get_settings().chunk_chars
            replay.candidate = cand
        settings = _settings(project, cand)
        threshold = float(project.verify_threshold)
        session.commit()
    todo = [v for v in version_ids if v not in done]
    cache = ShortSessionCache(session_factory)
    # Twice as many threads as model slots: a thread between two calls (cache lookups, litellm's own
    # work, parsing) holds no slot, so another thread's call can take it (the workers do the same).
    workers = THREADS_PER_SLOT * max(1, get_settings().model_concurrency)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="replay") as pool:
            pending: set = set()
            finished: list = []
            queue = iter(todo)
            window = 2 * workers  # texts in memory at once

            def refill(room: int):
                wanted = []
                for _ in range(room):
                    v = next(queue, None)
                    if v is None:
                        break
                    wanted.append(v)
                if wanted:
                    with session_factory() as session:
                        inputs = _inputs(session, wanted, cand.get("instructions") or "")
                    for version_id, text, guidelines, feedback in inputs:
                        future = pool.submit(propose, text, settings=settings, guidelines=guidelines,
                                             feedback=feedback, threshold=threshold, cache=cache,
                                             chunk_chars=int(cand["chunk_chars"]))
                        future.version_id = version_id
                        pending.add(future)

            refill(workers)  # the first calls start after loading a handful of versions, not the window
            refill(window - len(pending))
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in ready:
                    pending.discard(future)
                    finished.append((future.version_id, future.result()))
                if window - len(pending) >= workers // 2 or len(pending) < workers:
                    refill(window - len(pending))  # in bunches: one short transaction loads several
                if len(finished) >= STORE_EVERY or not pending:
                    _store(session_factory, replay_id, finished)
                    finished = []
    except Exception as exc:  # the job fails visibly, the stored versions are kept
        log.exception("replay %s failed", replay_id)
        return _close(session_factory, replay_id, error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
    return _close(session_factory, replay_id)


def _store(session_factory: SessionFactory, replay_id: int, finished: list) -> None:
    with session_factory() as session:
        replay = session.get(Replay, replay_id, with_for_update=True)
        added = failed = 0
        for version_id, proposal in finished:
            try:
                with session.begin_nested():
                    session.add(ReplayItem(replay_id=replay_id, version_id=version_id,
                                           status="failed" if proposal.error else "succeeded",
                                           proposals=proposal.edits, error=proposal.error,
                                           latency_ms=proposal.latency_ms,
                                           cached=bool(proposal.calls) and proposal.cached_calls == proposal.calls))
                added += 1
                failed += int(bool(proposal.error))
            except IntegrityError:
                pass  # another delivery stored this version
        replay.versions_done += added
        replay.versions_failed += failed
        session.commit()


def _close(session_factory: SessionFactory, replay_id: int, *, error: str | None = None) -> Replay:
    with session_factory() as session:
        replay = session.get(Replay, replay_id, with_for_update=True)
        if error is None:
            replay.results = score(session, replay)
        replay.status = "failed" if error else "succeeded"
        replay.error = error
        replay.finished_at = utcnow()
        events.record(session, kind="replay.failed" if error else "replay.finished", project_id=replay.project_id,
                      source="ai", data={"replay_id": replay.id, "versions": replay.versions_done,
                                         "failed": replay.versions_failed, "error": error})
        session.commit()
        session.refresh(replay)
        session.expunge(replay)
        return replay


# ------------------------------------------------------------------ scoring and rows

def _items(session: Session, replay: Replay) -> Iterator[tuple[ReplayItem, str, int]]:
    stmt = (select(ReplayItem, Version.text, Version.depth).join(Version, Version.id == ReplayItem.version_id)
            .where(ReplayItem.replay_id == replay.id, ReplayItem.status == "succeeded").order_by(ReplayItem.id))
    yield from session.execute(stmt.execution_options(yield_per=200))


def score(session: Session, replay: Replay, *, samples: int = scoring.BOOTSTRAP_SAMPLES) -> dict:
    logged, exposure = logged_edits(session, replay)
    per_version = []
    for item, text, depth in _items(session, replay):
        stats = scoring.version_stats(text, item.proposals or [], logged.get(item.version_id, []))
        if "all" in stats:
            stats[f"depth:{depth}"] = stats["all"]
        per_version.append(stats)
    summary = scoring.summarise(per_version, samples=samples)
    return {
        "versions": len(per_version),
        "overall": summary.get("all"),
        "by_intent": {k.split(":", 1)[1]: v for k, v in summary.items() if k.startswith("intent:")},
        "by_depth": {k.split(":", 1)[1]: v for k, v in sorted(summary.items(), key=lambda kv: kv[0])
                     if k.startswith("depth:")},
        "exposure": exposure,
        "bootstrap_samples": samples,
    }


def matched_rows(session: Session, *, replay: Replay) -> Iterator[dict]:
    """One row per candidate edit, with the logged edit it matched (if any) and that edit's decision."""
    logged, _exposure = logged_edits(session, replay)
    for item, text, depth in _items(session, replay):
        for cand, e, kind in scoring.match(text, item.proposals or [], logged.get(item.version_id, [])):
            yield {"replay_id": replay.id, "version_id": item.version_id, "depth": depth,
                   "start": cand["start"], "end": cand["end"], "original": cand["original"],
                   "replacement": cand["replacement"], "intent": cand["intent"], "match": kind,
                   "logged_edit_id": e.id if e else None, "logged_replacement": e.replacement if e else None,
                   "logged_intent": e.intent if e else None, "logged_decision": e.status if e else None,
                   "propensity": round(e.mu, 6) if e else None}


def matched_jsonl(session: Session, *, actor: User, replay_id: int) -> Iterator[bytes]:
    replay = get_replay(session, actor=actor, replay_id=replay_id)
    for row in matched_rows(session, replay=replay):
        yield (json.dumps(row, ensure_ascii=False) + "\n").encode()
