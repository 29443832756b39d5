"""Exports: training data built from the interaction log, in the background, as a bundle of files.

An export row is created (`create_export`, event `export.requested`), built by the Celery task
`exports.build` or the CLI (`build_export`, event `export.finished`), and its files are deleted
when it expires (`cleanup_expired`, status `expired`). The bundle in `settings.export_dir/<id>/`
holds the data files, `manifest.json` and a `README.md` dataset card.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.accounts import access
from app.config import get_settings
from app.db import SQLITE_BEGIN, session_scope, utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.events import service as events
from app.exports import formats
from app.exports.bundle import Bundle
from app.jobs import enqueue_after_commit
from app.models import Export, Membership, Project, User

log = logging.getLogger(__name__)

LICENCES = ("cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc0-1.0", "odc-by", "apache-2.0", "mit", "other",
            "unknown")
ACTIVE = ("queued", "running")
PROGRESS_SECONDS = 0.5
BUILD_TASK = "exports.build"
CARD = "README.md"
MANIFEST = "manifest.json"


class ExportCancelled(Exception):
    pass


# --- options --------------------------------------------------------------------------------

def _parse_when(value, *, end: bool) -> datetime | None:
    """A date (YYYY-MM-DD: the whole day, so `until` is the next midnight) or an ISO datetime, in UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        when = value
    else:
        text = str(value).strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise Invalid(f"Not a date: {text!r}; use YYYY-MM-DD or an ISO 8601 time.") from None
        if end and len(text) == 10:
            when += timedelta(days=1)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def normalise_options(fmt: str, raw: dict | None) -> dict:
    """Validated, JSON-ready options of an export (filters and file choices)."""
    raw = dict(raw or {})
    if fmt not in formats.FORMATS:
        raise Invalid(f"Unknown format {fmt!r}; use one of {', '.join(formats.FORMATS)}.")
    source = (raw.get("source") or "all").strip().lower()
    if source not in formats.SOURCES:
        raise Invalid("source must be human, ai or all.")
    flavour = (raw.get("flavour") or "trl").strip().lower()
    if flavour not in formats.FLAVOURS:
        raise Invalid("flavour must be trl or openai.")
    if flavour == "openai" and fmt not in ("sft", "preference"):
        raise Invalid("The openai flavour exists for the sft and preference formats only.")
    neutral_as = str(raw.get("neutral_as") or "false").strip().lower()
    if neutral_as not in formats.NEUTRAL_AS:
        raise Invalid("neutral_as must be false, true or drop.")
    licence = (raw.get("licence") or "unknown").strip().lower()
    if licence not in LICENCES:
        raise Invalid(f"Unknown licence {licence!r}; use one of {', '.join(LICENCES)}.")
    max_depth = raw.get("max_depth")
    if max_depth in ("", None):
        max_depth = None
    else:
        try:
            max_depth = int(max_depth)
        except (TypeError, ValueError):
            raise Invalid("max_depth must be a whole number.") from None
        if max_depth < 0:
            raise Invalid("max_depth cannot be negative.")
    person_id = raw.get("person_id")
    person_id = int(person_id) if person_id not in (None, "") else None
    since, until = _parse_when(raw.get("since"), end=False), _parse_when(raw.get("until"), end=True)
    if since and until and since >= until:
        raise Invalid("since must be before until.")
    jsonl = _flag(raw.get("jsonl", True))
    parquet = _flag(raw.get("parquet", False))
    if not (jsonl or parquet):
        raise Invalid("Choose JSONL, Parquet or both.")
    model = (raw.get("model") or "").strip() or None
    pair_kinds = raw.get("pair_kinds")
    if isinstance(pair_kinds, str):
        pair_kinds = [k for k in pair_kinds.replace(",", " ").split()]
    pair_kinds = sorted({str(k).strip().lower() for k in (pair_kinds or []) if str(k).strip()}) or None
    unknown = [k for k in pair_kinds or [] if k not in formats.PAIR_KINDS]
    if unknown:
        raise Invalid(f"Unknown pair kind {unknown[0]!r}; use any of {', '.join(formats.PAIR_KINDS)}.")
    if pair_kinds and fmt != "preference":
        raise Invalid("pair_kinds filters the preference format only.")
    return {
        "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
        "source": source, "model": model, "max_depth": max_depth, "person_id": person_id,
        "jsonl": jsonl, "parquet": parquet, "gzip": jsonl and _flag(raw.get("gzip", False)),
        "pseudonymise": _flag(raw.get("pseudonymise", False)), "flavour": flavour, "neutral_as": neutral_as,
        "edit_level": _flag(raw.get("edit_level", True)), "licence": licence, "pair_kinds": pair_kinds,
    }


def context_for(export: Export) -> formats.Context:
    o = export.options or {}
    filters = formats.Filters(
        project_id=export.project_id, since=_parse_when(o.get("since"), end=False),
        until=_parse_when(o.get("until"), end=False), source=o.get("source", "all"), model=o.get("model"),
        max_depth=o.get("max_depth"), person_id=o.get("person_id"),
    )
    return formats.Context(filters=filters, pseudonymise=bool(o.get("pseudonymise")),
                           secret_key=get_settings().secret_key, flavour=o.get("flavour", "trl"),
                           neutral_as=o.get("neutral_as", "false"), edit_level=bool(o.get("edit_level", True)),
                           pair_kinds=tuple(o["pair_kinds"]) if o.get("pair_kinds") else None)


# --- access ---------------------------------------------------------------------------------

def _require_exporter(session: Session, actor: User, project_id: int | None) -> Project | None:
    """Project admins export their projects; only site admins export across all projects."""
    if project_id is None:
        if not actor.is_site_admin:
            raise Forbidden("Only a site admin can export every project at once; choose a project.")
        return None
    project, _role = access.require_project(session, actor, project_id, roles=("admin",))
    return project


def exporting_projects(session: Session, actor: User) -> list[Project]:
    """The projects the user may export (admin role, or all for a site admin)."""
    stmt = select(Project).where(Project.archived_at.is_(None)).order_by(Project.name)
    if not actor.is_site_admin:
        stmt = stmt.join(Membership, Membership.project_id == Project.id).where(
            Membership.user_id == actor.id, Membership.role == "admin")
    return list(session.scalars(stmt))


def _visible(session: Session, actor: User):
    """A condition on Export for the exports the user may see, or None for all."""
    if actor.is_site_admin:
        return None
    admin_of = select(Membership.project_id).where(Membership.user_id == actor.id, Membership.role == "admin")
    return Export.project_id.in_(admin_of)


def can_export(session: Session, actor: User) -> bool:
    return actor.is_site_admin or session.scalar(
        select(Membership.id).where(Membership.user_id == actor.id, Membership.role == "admin").limit(1)) is not None


# --- lifecycle ------------------------------------------------------------------------------

def create_export(session: Session, *, actor: User, format: str, project_id: int | None = None,
                  options: dict | None = None, ip: str | None = None, enqueue: bool = True) -> Export:
    """A queued export; the build task is sent after commit."""
    _require_exporter(session, actor, project_id)
    opts = normalise_options(format, options)
    export = Export(project_id=project_id, format=format, options=opts, status="queued", rows_written=0,
                    created_by_id=actor.id)
    session.add(export)
    session.flush()
    export.rows_estimate = formats.estimate(session, format, context_for(export))
    events.record(session, kind="export.requested", actor=actor, subject=export, ip=ip,
                  data={"format": format, "options": opts, "rows_estimate": export.rows_estimate})
    if enqueue:
        enqueue_after_commit(session, BUILD_TASK, export.id)
    return export


def cancel_export(session: Session, *, actor: User, export_id: int, ip: str | None = None) -> Export:
    export = get_export(session, actor=actor, export_id=export_id)
    if export.status not in ACTIVE:
        raise Conflict(f"Export #{export.id} is {export.status}; only a queued or running export can be cancelled.")
    if export.status == "queued":
        export.status = "cancelled"
        export.finished_at = utcnow()
    export.cancel_requested = True
    events.record(session, kind="export.cancelled", actor=actor, subject=export, ip=ip,
                  data={"status": export.status})
    return export


def list_exports(session: Session, *, actor: User, limit: int = 50,
                 export_id: int | None = None) -> list[tuple[Export, str | None, str]]:
    """Newest first: (export, project name, requester) in one query (or only `export_id`)."""
    if not can_export(session, actor):
        raise Forbidden("Exports are for project admins.")
    stmt = (select(Export, Project.name, func.coalesce(func.nullif(User.name, ""), User.email))
            .outerjoin(Project, Project.id == Export.project_id).join(User, User.id == Export.created_by_id)
            .order_by(Export.id.desc()).limit(limit))
    visible = _visible(session, actor)
    if visible is not None:
        stmt = stmt.where(visible)
    if export_id is not None:
        stmt = stmt.where(Export.id == export_id)
    return [tuple(r) for r in session.execute(stmt)]


def get_export(session: Session, *, actor: User, export_id: int) -> Export:
    export = session.get(Export, export_id)
    if export is None:
        raise NotFound("No such export.")
    if not actor.is_site_admin and (
            export.project_id is None or access.role_in(session, actor, export.project_id) != "admin"):
        raise NotFound("No such export.")
    return export


def export_file(session: Session, *, actor: User, export_id: int, name: str) -> Path:
    """The path of one file of a finished export (data files, manifest.json, README.md)."""
    export = get_export(session, actor=actor, export_id=export_id)
    if export.status != "succeeded" or not export.path:
        raise Conflict(f"Export #{export.id} is {export.status}; its files are not available.")
    allowed = {f["name"] for f in (export.manifest or {}).get("files", [])} | {MANIFEST, CARD}
    if name not in allowed:
        raise NotFound("No such file in this export.")
    path = Path(export.path) / name
    if not path.is_file():
        raise NotFound("The file is gone.")
    return path


# Why a format has no rows, in words a person can act on.
EMPTY_REASONS = {
    "sft": "no applied runs yet: a writer decides a run's edits and applies them to make a new version",
    "preference": "no preference pairs yet: none of a span's proposals was both taken and turned down, no edit "
                  "was modified, and no pairwise comparison was made",
    "unpaired": "no decided edits yet: accept, reject or modify proposed edits first",
    "stepwise": "no step labels yet: label a version's steps or a run's critiques (+1 / 0 / −1) on a trace or "
                "in a queue",
    "critique_refinement": "no refinements yet: a run needs critiques or feedback and then an applied revision",
    "events": "no events in the log match",
}
FILTER_NAMES = {"since": "since", "until": "until", "source": "source", "model": "model",
                "max_depth": "max. depth", "person_id": "person"}


def empty_reason(session: Session, export: Export) -> str | None:
    """Why the export has (or will have) no rows, or None when it has some. Tells apart "nothing
    of this kind yet" from "the filters leave nothing out of what there is"."""
    if export.status == "succeeded":
        if export.rows_written:
            return None
        saved = (export.manifest or {}).get("empty_reason")
        if saved:
            return saved
    elif export.status not in ("queued", "running") or export.rows_estimate:
        return None
    return zero_rows_reason(session, export)


def zero_rows_reason(session: Session, export: Export) -> str:
    o = export.options or {}
    used = [f"{FILTER_NAMES[k]} {o[k]}" for k in FILTER_NAMES
            if o.get(k) not in (None, "", "all")]
    base = EMPTY_REASONS.get(export.format, "no matching rows")
    if used:
        unfiltered = formats.Context(filters=formats.Filters(project_id=export.project_id),
                                     secret_key=get_settings().secret_key, neutral_as=o.get("neutral_as", "false"),
                                     edit_level=bool(o.get("edit_level", True)))
        there = formats.estimate(session, export.format, unfiltered)
        if there:
            return (f"no rows match the filters ({', '.join(used)}); without them there would be about "
                    f"{there:,}")
        return f"{base} (even without the filters)"
    return base


def progress_percent(export: Export) -> int:
    if export.status == "succeeded":
        return 100
    if not export.rows_estimate:
        return 0
    return min(99, int(100 * (export.rows_written or 0) / export.rows_estimate))


def cleanup_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete the files of finished exports past their expiry; they become `expired`."""
    now = now or utcnow()
    root = Path(get_settings().export_dir).resolve()
    expired = session.scalars(select(Export).where(Export.status == "succeeded", Export.expires_at.is_not(None),
                                                   Export.expires_at < now)).all()
    for export in expired:
        if export.path:
            path = Path(export.path).resolve()
            if path.is_relative_to(root) and path != root:  # never delete outside the export directory
                shutil.rmtree(path, ignore_errors=True)
        export.status = "expired"
        events.record(session, kind="export.expired", subject=export, source="ai",
                      data={"expires_at": export.expires_at.isoformat()})
    return len(expired)


# --- building -------------------------------------------------------------------------------

class _Progress:
    """Counts rows; every half second saves the count and looks for a cancel request."""

    def __init__(self, status: Session, export: Export, *, separate: bool):
        self.status, self.export, self.separate = status, export, separate
        self.rows = 0
        self.last = time.monotonic()

    def add(self, n: int) -> None:
        self.rows += n
        if time.monotonic() - self.last >= PROGRESS_SECONDS:
            self.save()

    def save(self) -> None:
        self.last = time.monotonic()
        self.export.rows_written = self.rows
        if self.separate:
            # Read the flag inside the transaction that saves the count: a read after the commit would
            # open a transaction (IMMEDIATE on SQLite: the write lock) left open until the next save.
            cancel = self.status.scalar(select(Export.cancel_requested).where(Export.id == self.export.id))
            self.status.commit()
        else:
            self.status.flush()
            cancel = self.export.cancel_requested
        if cancel:
            raise ExportCancelled()


def _save(status: Session, separate: bool) -> None:
    status.commit() if separate else status.flush()


def build_export(session: Session, *, export_id: int, status_session: Session | None = None,
                 out_dir: str | Path | None = None) -> Export:
    """Build the export's bundle, reading through `session`.

    Status and progress are written through `status_session` and committed as they change (the
    background task and the CLI); without one, they are only flushed to `session` (tests).
    """
    status = status_session or session
    separate = status_session is not None and status_session is not session
    export = status.get(Export, export_id)
    if export is None:
        raise NotFound("No such export.")
    if export.status not in ACTIVE:  # finished, cancelled while queued, or a redelivered task
        return export
    settings = get_settings()
    directory = Path(out_dir) if out_dir else Path(settings.export_dir) / str(export.id)
    directory = directory.resolve()
    if out_dir is None and directory.exists():
        shutil.rmtree(directory)  # leftovers of a build a dead worker did not finish
    export.status, export.started_at, export.rows_written, export.error = "running", utcnow(), 0, None
    export.path = str(directory)
    _save(status, separate)
    ctx = context_for(export)
    tracker = _Progress(status, export, separate=separate)
    written: list[Path] = []
    try:
        tracker.save()  # a cancel that came in while the task was queued
        opts = export.options or {}
        bundle = Bundle(directory, jsonl=opts.get("jsonl", True), parquet=opts.get("parquet", False),
                        gzip_=opts.get("gzip", False))
        try:
            _write_rows(session, export.format, ctx, bundle, tracker)
        finally:
            bundle.close()
            written = [p for w in bundle.tables.values() for p in w.paths]
        files = bundle.files()
        export.rows_written = sum(w.rows for name, w in bundle.tables.items() if name == "data")
        export.finished_at = utcnow()
        export.manifest = _manifest(export, ctx, files, session)
        if not export.rows_written:
            export.manifest["empty_reason"] = zero_rows_reason(session, export)
        (directory / MANIFEST).write_text(json.dumps(export.manifest, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        (directory / CARD).write_text(dataset_card(export, export.manifest), encoding="utf-8")
        export.status = "succeeded"
        export.expires_at = None if out_dir else export.finished_at + timedelta(days=settings.export_ttl_days)
    except ExportCancelled:
        _discard(directory, written, out_dir)
        export.status, export.finished_at = "cancelled", utcnow()
    except Exception as exc:  # the export fails, the worker goes on; the reason is shown on the page
        log.exception("export %s failed", export_id)
        _discard(directory, written, out_dir)
        if not separate and _database_error(exc):  # the shared transaction is broken: start a new one
            session.rollback()
            export = session.get(Export, export_id)
        export.status, export.finished_at = "failed", utcnow()
        export.error = f"{type(exc).__name__}: {exc}"[:2000]
    events.record(status, kind="export.finished", subject=export, source="ai",
                  data={"status": export.status, "rows": export.rows_written, "error": export.error,
                        "files": [f["name"] for f in (export.manifest or {}).get("files", [])]})
    _save(status, separate)
    return export


def _database_error(exc: Exception) -> bool:
    return isinstance(exc, SQLAlchemyError) or type(exc).__module__.split(".")[0] in ("psycopg", "sqlite3")


def _discard(directory: Path, written: list[Path], out_dir) -> None:
    if out_dir is None:
        shutil.rmtree(directory, ignore_errors=True)
    else:  # a directory the CLI user chose: remove only what this build wrote
        for path in written + [directory / MANIFEST, directory / CARD]:
            path.unlink(missing_ok=True)


def _write_rows(session: Session, fmt: str, ctx: formats.Context, bundle: Bundle, tracker: _Progress) -> None:
    def table(name: str):
        if name == "ids":  # line-aligned with the data file; JSON is enough for a lookup table
            return bundle.table("ids", formats.schema(fmt, "ids", ctx), jsonl=True, parquet=False)
        return bundle.table(name, formats.schema(fmt, name, ctx))

    for name in formats.TABLES[fmt]:
        table(name)  # every table gets its files, even when no row matches
    if fmt == "events" and session.get_bind().dialect.name == "postgresql":
        from app.exports import pg_events

        pg_events.write_events(session, ctx, table("data"), tracker.add)
        rows = formats.exposure_rows(session, ctx)
    else:
        rows = formats.BUILDERS[fmt](session, ctx)
    openai = ctx.flavour == "openai"
    ids = table("ids") if openai else None
    for name, row in rows:
        if openai:
            ids.write({k: v for k, v in row.items() if k not in formats.OPENAI_FIELDS
                       and k not in ("prompt", "chosen", "rejected")})
            row = _openai(fmt, row)
        table(name).write(row)
        tracker.add(1)


def _openai(fmt: str, row: dict) -> dict:
    if fmt == "preference":
        return {"input": {"messages": row["prompt"]}, "preferred_output": row["chosen"],
                "non_preferred_output": row["rejected"]}
    return {"messages": row["messages"]}


LABEL_MAPPING = {
    "unpaired": {"label=true": "the person accepted the proposed edit as it was",
                 "label=false": "the person rejected the edit, or replaced it with their own text"},
    "preference": {"chosen": "the revision the person took (accepted, their own rewrite, or the picked run)",
                   "rejected": "the revision the person turned down"},
}


def _manifest(export: Export, ctx: formats.Context, files: list[dict], session: Session) -> dict:
    opts = export.options or {}
    rows: dict[str, int] = {}
    for f in files:
        rows[f["table"]] = f["rows"]
    mapping = LABEL_MAPPING.get(export.format)
    if export.format == "stepwise":
        neutral = {"false": False, "true": True, "drop": "dropped"}[ctx.neutral_as]
        mapping = {"+1 (good)": True, "-1 (bad)": False, "0 (neutral)": neutral}
    return {
        "export_id": export.id,
        "format": export.format,
        "schema_version": formats.SCHEMA_VERSION,
        "flavour": ctx.flavour,
        "filters": {"project_id": export.project_id, "since": opts.get("since"), "until": opts.get("until"),
                    "source": opts.get("source"), "model": opts.get("model"), "max_depth": opts.get("max_depth"),
                    "person_id": ctx.person(opts.get("person_id"))},
        "options": {k: opts.get(k) for k in ("jsonl", "parquet", "gzip", "pseudonymise", "flavour", "neutral_as",
                                             "edit_level", "licence", "pair_kinds")},
        "label_mapping": mapping,
        "rows": rows,
        "files": files,
        "requested_by": ctx.person(export.created_by_id),
        "requested_at": export.created_at.isoformat() if export.created_at else None,
        "started_at": export.started_at.isoformat() if export.started_at else None,
        "finished_at": export.finished_at.isoformat() if export.finished_at else None,
        "database": session.get_bind().dialect.name,
        "licence": opts.get("licence", "unknown"),
    }


_WHAT = {
    "sft": "Supervised fine-tuning conversations: the model is asked to revise a text and answers with the "
           "revision a person accepted. Loads as TRL SFT (conversational) data and as an OpenAI supervised "
           "fine-tuning file.",
    "preference": "Preference pairs with an explicit prompt: the revision a person took over the one they turned "
                  "down. TRL DPO / preference trainers (conversational); with the openai flavour, OpenAI "
                  "preference fine-tuning.",
    "unpaired": "Unpaired preference (TRL KTO): one proposed edit per decision, labelled by the decision.",
    "stepwise": "Stepwise supervision (TRL PRM): labelled steps (segments of a version, or a run's critiques).",
    "critique_refinement": "Critique → refinement triples (Imitation learning from Language Feedback): a "
                           "revision, the feedback on it, and the refinement that followed.",
    "events": "The raw, append-only interaction log of Emend, with exposure per edit for propensity "
              "estimation (CausalRM).",
}


def dataset_card(export: Export, manifest: dict) -> str:
    """A Hugging Face dataset card: YAML header (licence, data files) and what the data is."""
    data_files = [f for f in manifest["files"] if f["table"] != "ids"]
    configs = []
    for table in dict.fromkeys(f["table"] for f in data_files):
        chosen = next((f for f in data_files if f["table"] == table and f["name"].endswith(".parquet")),
                      next(f for f in data_files if f["table"] == table))
        name = "default" if table == "data" else table
        configs.append(f"- config_name: {name}\n  data_files:\n  - split: train\n    path: {chosen['name']}")
    licence = manifest["licence"]
    lines = [
        "---",
        f"license: {licence}",
        f"pretty_name: Emend {export.format} export {export.id}",
        "tags:\n- emend\n- human-feedback\n- " + export.format,
        "configs:\n" + "\n".join(configs),
        "---",
        "",
        f"# Emend export #{export.id}: `{export.format}`",
        "",
        "## What it is",
        "",
        _WHAT[export.format],
        "",
        "## How it was collected",
        "",
        "Emend is a human-in-the-loop revision workbench: a language model critiques a document and proposes "
        "edits; a person accepts, rejects or rewrites each one, gives free-text feedback and labels steps; the "
        "accepted edits make the next version. Every interaction is an append-only event. This export was "
        "built from those rows"
        + (" with user ids replaced by keyed pseudonyms (HMAC-SHA256)." if manifest["options"]["pseudonymise"]
           else ". User ids are the app's own ids."),
        "Decisions marked `ai` come from the shadow user (a model predicting the writer), not a person.",
        "",
        "## Counts",
        "",
        "| file | table | rows | bytes | sha256 |",
        "|---|---|---|---|---|",
        *[f"| {f['name']} | {f['table']} | {f['rows']} | {f['bytes']} | `{f['sha256']}` |" for f in manifest["files"]],
        "",
        "## Filters",
        "",
        *[f"- {k}: {v if v is not None else 'any'}" for k, v in manifest["filters"].items()],
        "",
        "## Fields",
        "",
        *[f"- `{k}`: {v}" for k, v in formats.FIELDS[export.format].items()],
        "",
    ]
    if manifest["flavour"] == "openai":
        lines += [("The data file holds only OpenAI's fields; `ids.jsonl` gives each line's source ids, line "
                   "by line."), ""]
    if manifest["label_mapping"]:
        lines += ["## Label mapping", "", *[f"- {k}: {v}" for k, v in manifest["label_mapping"].items()], ""]
    lines += ["## Licence", "", f"`{licence}`, chosen by the admin who made the export.", "",
              f"Schema version {manifest['schema_version']}. Made by Emend on {manifest['finished_at']}.", ""]
    return "\n".join(lines)


def build_in_own_sessions(export_id: int, *, out_dir: str | Path | None = None) -> None:
    """The task's and the CLI's build: one snapshot for reading, another session for progress."""
    with session_scope() as status, session_scope() as data:
        if data.get_bind().dialect.name == "postgresql" and not data.in_transaction():
            # One snapshot for every table and file of the export.
            data.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        elif not data.in_transaction():
            # SQLite: a read transaction that does not hold the write lock while progress commits.
            data.connection(execution_options={SQLITE_BEGIN: "DEFERRED"})
        cleanup_expired(status)
        status.commit()
        build_export(data, export_id=export_id, status_session=status, out_dir=out_dir)


def run_export(*, actor_email: str | None, format: str, project_id: int | None, options: dict,
               out_dir: str | Path) -> Export:
    """The CLI: record the export, build it synchronously into `out_dir`, return it."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise Invalid(f"{out} is not empty; choose a new or empty directory.")
    with session_scope() as session:
        if actor_email:
            actor = session.scalar(select(User).where(User.email == actor_email.strip().lower()))
        else:
            actor = session.scalar(select(User).where(User.is_site_admin.is_(True), User.is_active.is_(True))
                                   .order_by(User.id).limit(1))
        if actor is None:
            raise NotFound("No such user (pass --user EMAIL of a site admin or project admin).")
        export_id = create_export(session, actor=actor, format=format, project_id=project_id, options=options,
                                  enqueue=False).id
    out.mkdir(parents=True, exist_ok=True)
    build_in_own_sessions(export_id, out_dir=out)
    with session_scope() as session:
        return session.get(Export, export_id)


__all__ = [
    "LICENCES",
    "ExportCancelled",
    "build_export",
    "build_in_own_sessions",
    "can_export",
    "cancel_export",
    "cleanup_expired",
    "context_for",
    "create_export",
    "dataset_card",
    "empty_reason",
    "export_file",
    "exporting_projects",
    "get_export",
    "list_exports",
    "normalise_options",
    "progress_percent",
    "run_export",
]
