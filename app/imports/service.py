"""Importing revision logs from elsewhere (docs/import-format.md).

`create_import` stores the uploaded file and queues the job; `run_import` (the Celery task
`imports.run`, and `emend import`) streams the file in batches. Each batch is one transaction
that also saves the job's progress, so a job that dies resumes where it stopped: every record
carries an external id, kept in `import_records`, and a record whose id is already there is
skipped — importing the same file twice adds nothing.

A bad line is reported with its number and skipped; the valid lines around it are imported.
A record may only refer to records on earlier lines (or imported before). Every row made is
recorded as the usual event with `data.imported = true` and the import's id, dated at the
time the log gives.

Within a batch, pass A reads documents, versions, runs and edits in line order with their ids
reserved up front (`_reserve_ids`), so nothing waits on an insert's answer, and inserts them at its
end a table at a time; pass B the decisions, feedback and labels (which nothing refers to). Rows go
in by COPY on PostgreSQL (`insert_rows`), decisions by one UPDATE … FROM unnest per batch
(`bulk_update`): a batch of 1,000 lines is a dozen statements, not several per line.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import shutil
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import JSON, bindparam, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from app import project_jobs
from app.accounts import access
from app.config import get_settings
from app.db import utcnow
from app.errors import Invalid
from app.events import service as events
from app.imports import reader
from app.imports import schemas as s
from app.jobs import enqueue_after_commit
from app.models import (
    Annotation,
    Document,
    Edit,
    Event,
    Feedback,
    Import,
    ImportRecord,
    Membership,
    Project,
    Run,
    User,
    Version,
)

log = logging.getLogger(__name__)

BATCH_LINES = 1000
MAX_STORED_ERRORS = 1000  # every error is counted; the first ones are kept with their lines
ANALYZE_FROM = 5_000  # records imported before the first refresh of the planner's statistics
CACHE_SIZE = 20_000  # external ids, runs and edits remembered between batches (bounded: about 10 MB)
IMPORTED_PASSWORD = "!imported"  # not an argon2 hash: an imported person cannot sign in
PASS_B = (s.DecisionRecord, s.FeedbackRecord, s.LabelRecord)
KIND = {s.DocumentRecord: "document", s.RunRecord: "run", s.VersionRecord: "version", s.EditRecord: "edit",
        s.DecisionRecord: "decision", s.FeedbackRecord: "feedback", s.LabelRecord: "label"}


_KNOWN = (select(ImportRecord.external_id, ImportRecord.local_id)
          .where(ImportRecord.project_id == bindparam("project_id"), ImportRecord.kind == bindparam("kind"),
                 ImportRecord.external_id.in_(bindparam("exts", expanding=True))))




class LineError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _Lru(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)

    def take(self, key):
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


# ------------------------------------------------------------------ the job row

def imports_dir() -> Path:
    path = Path(get_settings().export_dir) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def create_import(session: Session, *, actor: User, project_id: int, filename: str, data=None,
                  source_path: str | Path | None = None, enqueue: bool = True) -> Import:
    """Store the file and queue its import (project admins). `source_path` imports a file in place
    (the CLI); `data` (bytes or a binary file object, copied in chunks) is an upload, kept under
    EMEND_EXPORT_DIR/imports until the job has read it."""
    project, _role = access.require_project(session, actor, project_id, roles=("admin",))
    if source_path is None and data is None:
        raise Invalid("Choose a JSONL file to import.")
    if source_path is not None:
        path = Path(source_path).resolve()
        if not path.is_file():
            raise Invalid(f"No such file: {source_path}")
    job = Import(project_id=project.id, filename=(filename or "import.jsonl")[:300], path="", status="queued",
                 created_by_id=actor.id, errors=[], counts={})
    session.add(job)
    session.flush()
    if source_path is None:
        path = imports_dir() / f"import-{job.id}-{secrets.token_hex(6)}.jsonl"
        with open(path, "wb") as out:
            if isinstance(data, bytes | bytearray):
                out.write(data)
            else:
                shutil.copyfileobj(data, out, 1 << 20)
        if path.stat().st_size == 0:
            path.unlink()
            raise Invalid("The file is empty.")
    job.path = str(path)
    job.bytes_total = path.stat().st_size
    events.record(session, kind="import.requested", actor=actor, project_id=project.id,
                  data={"import_id": job.id, "filename": job.filename, "bytes": job.bytes_total})
    if enqueue:
        enqueue_after_commit(session, "imports.run", job.id)
    return job


def get_import(session: Session, *, actor: User, import_id: int) -> Import:
    return project_jobs.get_job(session, actor=actor, model=Import, job_id=import_id, what="import")


def list_imports(session: Session, *, actor: User, project_id: int, limit: int = 50) -> list[Import]:
    return project_jobs.list_jobs(session, actor=actor, model=Import, project_id=project_id, limit=limit)


def progress_percent(job: Import) -> int:
    return project_jobs.percent(job.status, job.bytes_read, job.bytes_total)


# ------------------------------------------------------------------ the importer

class Importer:
    """Imports the records of one job into its project; caches are bounded and only hints: every
    miss is looked up in `import_records`."""

    def __init__(self, session: Session, job: Import):
        self.session = session
        self.job = job
        self.project_id = job.project_id
        self.importer_id = job.created_by_id
        self.ids: _Lru = _Lru(CACHE_SIZE)  # (kind, external id) → local id
        self.versions: _Lru = _Lru(2_000)  # version id → (text, document id, depth)
        self.runs: _Lru = _Lru(CACHE_SIZE)  # run id → (version id, document id)
        self.edits: _Lru = _Lru(CACHE_SIZE)  # edit id → (run id, document id, version id)
        self.people: _Lru = _Lru(10_000)  # person → user id
        self.next_number: _Lru = _Lru(CACHE_SIZE)  # document id → next version number
        self.fresh_versions: _Lru = _Lru(CACHE_SIZE)  # versions this job made
        self.counts: dict[str, int] = dict(job.counts or {})
        self.segment_unit: str | None = None
        self.analyzed_at = 0  # the job's records when the statistics were last refreshed
        self._begin_batch()

    def _begin_batch(self) -> None:
        """Rows of pass A, inserted together at its end (ids reserved up front, so nothing waits on an
        insert's answer), and the links set once both sides exist."""
        self.rows: dict[tuple[int, str], list[dict]] = {}  # (wave, table) → rows, in line order
        self.wave: dict[tuple[str, int], int] = {}  # (table, id) → wave, for the rows not inserted yet
        self.links: dict[str, list[dict]] = {"runs": [], "documents": []}
        self.unsaved_versions: dict[int, tuple[str, int, int]] = {}
        self.unsaved_runs: dict[int, tuple[int, int]] = {}
        self.free_ids: dict[str, list[int]] = {"documents": [], "versions": [], "runs": []}
        self.want_ids: dict[str, int] = {}
        self.last_id: dict[str, int] = getattr(self, "last_id", {})

    def _new_id(self, table: str) -> int:
        pool = self.free_ids[table]
        if not pool:
            pool.extend(reversed(_reserve_ids(self.session, table, max(16, self.want_ids.get(table, 0)),
                                              self.last_id)))
        return pool.pop()

    def _add_row(self, table: str, wave: int, row: dict) -> None:
        self.rows.setdefault((wave, table), []).append(row)
        self.wave[(table, row["id"])] = wave

    def _insert_pass_a(self) -> None:
        """The rows of pass A in as few statements as their references allow: documents, then wave by
        wave the versions and then the runs (a run reads a version; a version made by a run of this
        batch is in the wave after it; a version's parent is in its wave or an earlier one, before it
        in line order). A run's applied version and a document's current version are set after."""
        order = {"documents": 0, "versions": 1, "runs": 2}
        models = {"documents": Document, "versions": Version, "runs": Run}
        for wave, table in sorted(self.rows, key=lambda k: (k[1] != "documents", k[0], order[k[1]])):
            self.session.execute(insert(models[table].__table__), self.rows[(wave, table)])
        for table in ("runs", "documents"):
            bulk_update(self.session, models[table].__table__, self.links[table])

    def reset_caches(self) -> None:
        for cache in (self.ids, self.versions, self.runs, self.edits, self.people, self.next_number,
                      self.fresh_versions):
            cache.clear()

    # --- lookups

    def _known(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Load the local ids of (kind, external id) pairs that the cache does not hold."""
        by_kind: dict[str, set] = defaultdict(set)
        for kind, ext in pairs:
            if (kind, ext) not in self.ids:
                by_kind[kind].add(ext)
        for kind, exts in by_kind.items():
            exts = sorted(exts)
            for i in range(0, len(exts), 500):
                # One cached statement (an expanding IN), not a tuple comparison compiled per batch.
                rows = self.session.execute(_KNOWN, {"project_id": self.project_id, "kind": kind,
                                                     "exts": exts[i:i + 500]})
                for ext, local in rows:
                    self.ids.put((kind, ext), local)

    def ref(self, kind: str, ext: str | None, line: int, batch_lines: dict) -> int | None:
        if ext is None:
            return None
        key = (kind, ext)
        made_at = batch_lines.get(key)
        if made_at is not None and made_at >= line:
            raise LineError(f"{kind} {ext!r} is defined on line {made_at}, after this line")
        local = self.ids.take(key)
        if local is None:
            self._known([key])
            local = self.ids.take(key)
        if local is None:
            raise LineError(f"unknown {kind} {ext!r} (it must come on an earlier line)")
        return local

    def version_info(self, version_id: int) -> tuple[str, int, int]:
        info = self.unsaved_versions.get(version_id) or self.versions.take(version_id)
        if info is None:
            row = self.session.execute(select(Version.text, Version.document_id, Version.depth)
                                       .where(Version.id == version_id)).one()
            info = (row[0], row[1], row[2])
            self.versions.put(version_id, info)
        return info

    def run_info(self, run_id: int) -> tuple[int, int]:
        info = self.unsaved_runs.get(run_id) or self.runs.take(run_id)
        if info is None:
            row = self.session.execute(select(Run.version_id, Run.document_id).where(Run.id == run_id)).one()
            info = (row[0], row[1])
            self.runs.put(run_id, info)
        return info

    def edit_infos(self, edit_ids: Iterable[int]) -> None:
        missing = list({e for e in edit_ids if e not in self.edits})
        for i in range(0, len(missing), 500):
            for eid, run_id, document_id, version_id in self.session.execute(
                    select(Edit.id, Edit.run_id, Run.document_id, Edit.version_id)
                    .join(Run, Run.id == Edit.run_id).where(Edit.id.in_(missing[i:i + 500]))):
                self.edits.put(eid, (run_id, document_id, version_id))

    def person(self, name: str | None) -> int:
        """The user of a person named in the log (an e-mail address, or any handle), created on
        first sight (without a usable password) and made a writer of the project."""
        if name is None:
            return self.importer_id
        key = name.strip().lower()
        user_id = self.people.take(key)
        if user_id is not None:
            return user_id
        if "@" in key:
            email, display = key, ""
        else:
            slug = re.sub(r"[^a-z0-9._-]+", "-", key).strip("-")[:120] or "person"
            email, display = f"{slug}@imported.invalid", name.strip()[:120]
        user_id = self.session.scalar(select(User.id).where(User.email == email))
        if user_id is None:
            user = User(email=email, name=display, password_hash=IMPORTED_PASSWORD, is_active=True)
            self.session.add(user)
            self.session.flush()
            user_id = user.id
            events.record(self.session, kind="user.created", subject=user, project_id=self.project_id,
                          data={"imported": True, "import_id": self.job.id, "email": email})
        if self.session.scalar(select(Membership.id).where(Membership.project_id == self.project_id,
                                                           Membership.user_id == user_id)) is None:
            admin = self.session.scalar(select(User.is_site_admin).where(User.id == user_id))
            if not admin:
                self.session.add(Membership(project_id=self.project_id, user_id=user_id, role="writer"))
                self.session.flush()
        self.people.put(key, user_id)
        return user_id

    def _event(self, kind: str, *, when: datetime | None, source: str = "human", actor_id: int | None = None,
               subject_kind: str | None = None, subject_id: int | None = None, document_id: int | None = None,
               run_id: int | None = None, external_id: str | None = None, data: dict | None = None) -> dict:
        return {"kind": kind, "actor_id": actor_id, "source": source, "project_id": self.project_id,
                "document_id": document_id, "run_id": run_id, "subject_kind": subject_kind,
                "subject_id": subject_id, "ip": None, "created_at": when or utcnow(),
                "data": {**(data or {}), "imported": True, "import_id": self.job.id, "external_id": external_id}}

    def _remember(self, kind: str, ext: str, local_id: int, out: list[dict]) -> None:
        self.ids.put((kind, ext), local_id)
        out.append({"project_id": self.project_id, "kind": kind, "external_id": ext, "local_id": local_id,
                    "import_id": self.job.id})
        self.counts[kind] = self.counts.get(kind, 0) + 1

    # --- pass A: documents, versions, runs, edits

    def _document(self, r: s.DocumentRecord, records: list, evs: list) -> None:
        owner = self.person(r.owner)
        when = r.created_at or utcnow()
        title = r.title or "Imported document"
        document_id = self._new_id("documents")
        self._add_row("documents", 0, {
            "id": document_id, "project_id": self.project_id, "owner_id": owner, "title": title,
            "stop_reason": r.stop_reason, "auto_repeat": False, "created_at": when, "updated_at": when})
        self._remember("document", r.id, document_id, records)
        self.next_number.put(document_id, 1)
        evs.append(self._event("document.created", when=when, actor_id=owner, subject_kind="document",
                               subject_id=document_id, document_id=document_id, external_id=r.id,
                               data={"title": title}))

    def _version(self, r: s.VersionRecord, line: int, batch: dict, records: list, evs: list, current: dict) -> None:
        document_id = self.ref("document", r.document, line, batch)
        parent_id = self.ref("version", r.parent, line, batch)
        run_id = self.ref("run", r.run, line, batch)
        if len(r.text) > get_settings().max_document_chars:
            raise LineError(f"text longer than {get_settings().max_document_chars} characters")
        if parent_id is not None and self.version_info(parent_id)[1] != document_id:
            raise LineError(f"parent {r.parent!r} is a version of another document")
        number = self.next_number.take(document_id)
        if number is None:
            number = (self.session.scalar(select(func.max(Version.number))
                                          .where(Version.document_id == document_id)) or 0) + 1
        author = self.person(r.person) if r.person else None
        when = r.created_at or utcnow()
        version_id = self._new_id("versions")
        # Versions cannot be updated: one made by a run of this batch goes in after that run.
        wave = max(self.wave.get(("versions", parent_id), 0),
                   self.wave[("runs", run_id)] + 1 if ("runs", run_id) in self.wave else 0)
        self._add_row("versions", wave, {
            "id": version_id, "document_id": document_id, "number": number, "depth": r.depth, "parent_id": parent_id,
            "source_run_id": run_id, "text": r.text, "text_sha256": hashlib.sha256(r.text.encode()).hexdigest(),
            "created_by_id": author, "created_at": when})
        self.next_number.put(document_id, number + 1)
        self.versions.put(version_id, (r.text, document_id, r.depth))
        self.unsaved_versions[version_id] = (r.text, document_id, r.depth)
        self.fresh_versions.put(version_id, True)
        current[document_id] = version_id
        if run_id is not None:
            self.links["runs"].append({"id": run_id, "applied_version_id": version_id})
        self._remember("version", r.id, version_id, records)
        evs.append(self._event("version.applied" if run_id else "version.created", when=when, actor_id=author,
                               subject_kind="version", subject_id=version_id, document_id=document_id,
                               run_id=run_id, external_id=r.id,
                               data={"depth": r.depth, "number": number, "parent_id": parent_id, "run_id": run_id}))

    def _run(self, *, ext: str, version_id: int, model: str, status: str, feedback: str, created_at, finished_at,
             dropped_repeats: int, person: str | None, propensity: float | None, records: list, evs: list) -> int:
        _text, document_id, _depth = self.version_info(version_id)
        creator = self.person(person) if person else None
        created = created_at or finished_at or utcnow()
        params = {"imported": True, "import_id": self.job.id}
        if propensity is not None:
            params["propensity"] = propensity
        run_id = self._new_id("runs")
        self._add_row("runs", self.wave.get(("versions", version_id), 0), {
            "id": run_id, "project_id": self.project_id, "document_id": document_id, "version_id": version_id,
            "variant": "", "model": model[:200], "params": params, "status": status, "feedback": feedback,
            "dropped_repeats": dropped_repeats, "created_by_id": creator, "created_at": created,
            "started_at": created, "finished_at": finished_at or created})
        self.runs.put(run_id, (version_id, document_id))
        self.unsaved_runs[run_id] = (version_id, document_id)
        self._remember("run", ext, run_id, records)
        kind = {"succeeded": "run.finished", "failed": "run.failed", "cancelled": "run.cancelled"}[status]
        evs.append(self._event(kind, when=finished_at or created, source="ai", subject_kind="run",
                               subject_id=run_id, document_id=document_id, run_id=run_id, external_id=ext,
                               data={"model": model, "version_id": version_id, "dropped_repeats": dropped_repeats,
                                     "feedback": bool(feedback)}))
        return run_id

    def _run_record(self, r: s.RunRecord, line: int, batch: dict, records: list, evs: list) -> None:
        version_id = self.ref("version", r.version, line, batch)
        self._run(ext=r.id, version_id=version_id, model=r.model, status=r.status, feedback=r.feedback,
                  created_at=r.created_at, finished_at=r.finished_at, dropped_repeats=r.dropped_repeats,
                  person=r.person, propensity=r.propensity, records=records, evs=evs)

    def _edit(self, r: s.EditRecord, line: int, batch: dict, records: list, evs: list, rows: list) -> None:
        version_id = self.ref("version", r.version, line, batch)
        text, document_id, _depth = self.version_info(version_id)
        if r.end > len(text) or text[r.start:r.end] != r.original:
            raise LineError(f"original {r.original[:40]!r} is not the text at [{r.start}, {r.end}) of the version")
        if r.run is not None:
            run_id = self.ref("run", r.run, line, batch)
            if self.run_info(run_id)[0] != version_id:
                raise LineError(f"run {r.run!r} read another version")
        else:  # one implicit run per version and model
            ext = f"auto:{r.version}:{r.model}"
            if version_id not in self.fresh_versions:  # a version made by this job has no runs yet
                self._known([("run", ext)])
            run_id = self.ids.take(("run", ext))
            if run_id is None:
                run_id = self._run(ext=ext, version_id=version_id, model=r.model, status="succeeded", feedback="",
                                   created_at=r.created_at, finished_at=r.created_at, dropped_repeats=0,
                                   person=None, propensity=None, records=records, evs=evs)
                self.counts["run"] -= 1  # implicit: not a record of the file
        rows.append({"record": r, "line": line, "run_id": run_id, "document_id": document_id, "values": {
            "run_id": run_id, "version_id": version_id, "start": r.start, "end": r.end, "original": r.original,
            "replacement": r.replacement, "intent": r.intent, "rationale": r.rationale,
            "confidence": 0.5 if r.confidence is None else r.confidence, "status": "pending",
            "created_at": r.created_at or utcnow()}})

    def _flush_edits(self, rows: list, records: list, evs: list) -> None:
        if not rows:
            return
        ids = _reserve_ids(self.session, "edits", len(rows), self.last_id)
        insert_rows(self.session, Edit.__table__, [{"id": i, **row["values"]} for i, row in zip(ids, rows, strict=True)])
        for edit_id, row in zip(ids, rows, strict=True):
            r = row["record"]
            self.edits.put(edit_id, (row["run_id"], row["document_id"], row["values"]["version_id"]))
            self._remember("edit", r.id, edit_id, records)
            if r.shown_position is not None:
                evs.append(self._event("edits.shown", when=row["values"]["created_at"], subject_kind="run",
                                       subject_id=row["run_id"], document_id=row["document_id"],
                                       run_id=row["run_id"], external_id=r.id,
                                       data={"surface": "imported", "edit_ids": [edit_id],
                                             "positions": [{"edit_id": edit_id, "position": r.shown_position}]}))

    # --- pass B: decisions, feedback, labels

    def _decision(self, r: s.DecisionRecord, line: int, batch: dict, records: list, evs: list,
                  updates: list) -> None:
        edit_id = self.ref("edit", r.edit, line, batch)
        self.edit_infos([edit_id])
        run_id, document_id, _version_id = self.edits[edit_id]
        person = self.person(r.person) if r.person else None
        when = r.at or utcnow()
        status = r.decision
        values = {"id": edit_id, "status": status, "decision_source": r.source,
                  "decided_replacement": r.replacement if status == "modified" else None,
                  "decided_by_id": person if r.source == "human" else None, "decided_at": when,
                  "comment": r.comment}
        if r.source == "ai":
            values["predicted_status"] = status
            values["predicted_confidence"] = r.confidence
        updates.append(values)
        self._remember("decision", r.id, edit_id, records)
        evs.append(self._event("edit.predicted" if r.source == "ai" else "edit.decided", when=when, source=r.source,
                               actor_id=person if r.source == "human" else None, subject_kind="edit",
                               subject_id=edit_id, document_id=document_id, run_id=run_id, external_id=r.id,
                               data={"decision": status, "status": status, "decided_replacement":
                                     values["decided_replacement"], "comment": r.comment}))

    def _feedback(self, r: s.FeedbackRecord, line: int, batch: dict, records: list, evs: list) -> None:
        document_id = self.ref("document", r.document, line, batch)
        about = self.ref("run", r.run, line, batch)
        used_by = self.ref("run", r.used_by_run, line, batch)
        user_id = self.person(r.person)
        when = r.at or utcnow()
        feedback_id = self.session.execute(insert(Feedback).values(
            document_id=document_id, run_id=about, used_by_run_id=used_by, user_id=user_id, text=r.text,
            created_at=when).returning(Feedback.id)).scalar_one()
        self._remember("feedback", r.id, feedback_id, records)
        evs.append(self._event("feedback.given", when=when, actor_id=user_id, subject_kind="feedback",
                               subject_id=feedback_id, document_id=document_id, run_id=used_by, external_id=r.id,
                               data={"text": r.text, "about_run_id": about}))

    def _label(self, r: s.LabelRecord, line: int, batch: dict, records: list, evs: list) -> None:
        user_id = self.person(r.person)
        if r.target == "edit":
            target_id = self.ref("edit", r.edit, line, batch)
            step = 0
        else:
            target_id = self.ref("version", r.version, line, batch)
            step = r.step
        when = r.at or utcnow()
        existing = self.session.scalar(select(Annotation).where(
            Annotation.user_id == user_id, Annotation.target_kind == r.target, Annotation.target_id == target_id,
            Annotation.step == step))
        if existing is None:
            existing = Annotation(project_id=self.project_id, user_id=user_id, target_kind=r.target,
                                  target_id=target_id, step=step, created_at=when)
            self.session.add(existing)
        existing.label, existing.comment, existing.source, existing.updated_at = r.label, r.comment, r.source, when
        if r.target == "segment":
            existing.segment_text, existing.segment_unit = self._segment(r, target_id)
        self.session.flush()
        self._remember("label", r.id, existing.id, records)
        evs.append(self._event("annotation.saved", when=when, source=r.source, actor_id=user_id,
                               subject_kind="annotation", subject_id=existing.id, external_id=r.id,
                               data={"target_kind": r.target, "target_id": target_id, "step": step,
                                     "label": r.label, "comment": r.comment}))

    def _segment(self, r: s.LabelRecord, version_id: int) -> tuple[str | None, str | None]:
        """The labelled step's text as the log gives it, else the step of the version's text split by
        the project's segment unit (as a label given in Emend stores it); None past the last step."""
        if r.segment_text is not None:
            return r.segment_text, None
        from app.annotations import segments as segmenting

        if self.segment_unit is None:
            self.segment_unit = self.session.scalar(select(Project.segment_unit)
                                                    .where(Project.id == self.project_id)) or "sentence"
        steps = segmenting.split(self.version_info(version_id)[0], self.segment_unit)
        return (steps[r.step].text, self.segment_unit) if r.step < len(steps) else (None, None)

    # --- a batch

    def import_batch(self, lines: list[reader.Line], errors: list) -> tuple[int, int]:
        """Import the valid lines of one batch (errors appended as {"line", "id", "message"});
        returns (records added, records skipped as already imported)."""
        valid = [ln for ln in lines if ln.record is not None]
        self._known((KIND[type(ln.record)], ln.record.id) for ln in valid)
        seen: set = set()
        todo = []
        skipped = 0
        for ln in valid:
            key = (KIND[type(ln.record)], ln.record.id)
            if key in self.ids or key in seen:
                skipped += 1
                continue
            seen.add(key)
            todo.append(ln)
        batch = {(KIND[type(ln.record)], ln.record.id): ln.number for ln in todo}
        records: list[dict] = []
        evs: list[dict] = []
        edit_rows: list[dict] = []
        updates: list[dict] = []
        current: dict[int, int] = {}
        added = 0
        self._begin_batch()
        kinds = [type(ln.record) for ln in todo]
        self.want_ids = {"documents": kinds.count(s.DocumentRecord), "versions": kinds.count(s.VersionRecord),
                         # explicit runs, and at most one implicit run per edit without one
                         "runs": kinds.count(s.RunRecord) + sum(1 for ln in todo if isinstance(ln.record, s.EditRecord)
                                                                 and ln.record.run is None)}

        def fail(ln, exc: LineError) -> None:
            errors.append({"line": ln.number, "id": ln.record.id, "message": exc.message})
            batch.pop((KIND[type(ln.record)], ln.record.id), None)

        for ln in todo:
            r = ln.record
            if isinstance(r, PASS_B):
                continue
            try:
                if isinstance(r, s.DocumentRecord):
                    self._document(r, records, evs)
                elif isinstance(r, s.VersionRecord):
                    self._version(r, ln.number, batch, records, evs, current)
                elif isinstance(r, s.RunRecord):
                    self._run_record(r, ln.number, batch, records, evs)
                else:
                    self._edit(r, ln.number, batch, records, evs, edit_rows)
                added += 1
            except LineError as exc:
                fail(ln, exc)
        self.links["documents"] = [{"id": d, "current_version_id": v} for d, v in current.items()]
        self._insert_pass_a()
        self._flush_edits(edit_rows, records, evs)
        # Edits are referred to by decisions of this batch: known now.
        refs = [ln.record.edit for ln in todo if isinstance(ln.record, s.DecisionRecord)]
        self._known(("edit", e) for e in refs)
        self.edit_infos(self.ids[("edit", e)] for e in refs if ("edit", e) in self.ids)
        for ln in todo:
            r = ln.record
            if not isinstance(r, PASS_B):
                continue
            try:
                if isinstance(r, s.DecisionRecord):
                    self._decision(r, ln.number, batch, records, evs, updates)
                elif isinstance(r, s.FeedbackRecord):
                    self._feedback(r, ln.number, batch, records, evs)
                else:
                    self._label(r, ln.number, batch, records, evs)
                added += 1
            except LineError as exc:
                fail(ln, exc)
        self._flush_updates(updates)
        self._begin_batch()
        if records:
            insert_rows(self.session, ImportRecord.__table__, records)
        insert_rows(self.session, Event.__table__, evs)  # the rows of events.event_values
        return added, skipped

    def _flush_updates(self, updates: list[dict]) -> None:
        """Decisions in order (a later decision on the same edit wins); one executemany per shape."""
        shapes: dict[tuple, list] = {}
        order: list[tuple] = []
        for values in updates:
            shape = tuple(sorted(values))
            if order and order[-1] != shape:
                self._update(shapes.pop(order[-1]))
            if not order or order[-1] != shape:
                order.append(shape)
            shapes.setdefault(shape, []).append(values)
        for shape in order:
            if shape in shapes:
                self._update(shapes.pop(shape))

    def _update(self, rows: list[dict]) -> None:
        # Several decisions of one edit in one executemany would race in bulk mode: keep them apart.
        pending: list[dict] = []
        ids: set = set()
        for row in rows:
            if row["id"] in ids:
                self._execute_update(pending)
                pending, ids = [], set()
            pending.append(row)
            ids.add(row["id"])
        if pending:
            self._execute_update(pending)

    def _execute_update(self, rows: list[dict]) -> None:
        bulk_update(self.session, Edit.__table__, rows)


def bulk_update(session: Session, table, rows: list[dict], *, page: int = 1000) -> None:
    """Set columns of many rows by id. Every row has the same keys, "id" among them, each id at most
    once. On PostgreSQL one `UPDATE … FROM unnest(arrays)` per `page` rows: one round trip and one
    firing of each statement trigger, not one per row, and the same prepared text every time (a
    VALUES list would be compiled anew for each batch). SQLite, in process, takes an executemany."""
    if not rows:
        return
    keys = [k for k in rows[0] if k != "id"]
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = update(table).where(table.c.id == bindparam("_id")).values({k: bindparam(f"_{k}") for k in keys})
        session.execute(stmt, [{f"_{k}": v for k, v in row.items()} for row in rows])
        return
    names = ["id", *keys]
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(f"CAST(:{n} AS {table.c[n].type.compile(dialect=dialect)}[])" for n in names)
    sql = text(f"UPDATE {quote(table.name)} SET {', '.join(f'{quote(k)} = v.{quote(k)}' for k in keys)} "
               f"FROM unnest({arrays}) AS v({', '.join(quote(n) for n in names)}) "
               f"WHERE {quote(table.name)}.id = v.id")
    # The columns' own bind processing (e.g. UTCDateTime: naive means UTC), as a Core statement would.
    process = {n: table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names}
    for i in range(0, len(rows), page):
        chunk = rows[i:i + page]
        session.execute(sql, {n: [process[n](row[n]) if process[n] else row[n] for row in chunk] for n in names})


def insert_rows(session: Session, table, rows: list[dict]) -> None:
    """Insert many rows (every one with the same keys) without reading anything back: COPY on
    PostgreSQL (one stream, not a statement per row; triggers fire as for INSERT), an executemany on
    SQLite. Columns left out get their Python-side default, as a Core insert would give them."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    names = list(rows[0])
    defaults = {c.name: c.default for c in table.columns
                if c.name not in names and c.default is not None and not c.primary_key}
    columns = [table.c[n] for n in (*names, *defaults)]
    process = {c.name: (_json_text if isinstance(c.type, JSON) else
                        c.type.dialect_impl(dialect).bind_processor(dialect)) for c in columns}
    fixed = {n: d.arg(None) if d.is_callable else d.arg for n, d in defaults.items() if d.is_scalar or d.is_callable}
    quote = dialect.identifier_preparer.quote
    sql = f"COPY {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) FROM STDIN"
    raw = session.connection().connection.driver_connection
    try:
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                out = []
                for c in columns:
                    value = row[c.name] if c.name in row else fixed.get(c.name)
                    fn = process[c.name]
                    out.append(fn(value) if fn is not None and value is not None else value)
                copy.write_row(out)
    except dialect.dbapi.Error as exc:
        # As SQLAlchemy would raise it (IntegrityError for a refused row), so the batch is retried
        # line by line and a lost connection makes the task retry, as for any other statement.
        raise DBAPIError.instance(sql, None, exc, dialect.dbapi.Error, dialect=dialect,
                                  connection_invalidated=bool(raw.broken)) from exc


def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _reserve_ids(session: Session, table: str, n: int, last: dict[str, int]) -> list[int]:
    """`n` new primary keys of `table`, in one round trip, for rows inserted later in this transaction.
    PostgreSQL takes them from the table's sequence (never handed out twice); SQLite, whose writer
    holds the database's write lock for the whole transaction, counts on from the largest id."""
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                                         "FROM generate_series(1, :n)"), {"n": n}))
    start = max(session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}")) or 0, last.get(table, 0)) + 1
    last[table] = start + n - 1
    return list(range(start, start + n))


# ------------------------------------------------------------------ running a job

SessionFactory = Callable[[], Session]


def _batches(fh, size: int):
    batch: list[reader.Line] = []
    for line in reader.read_lines(fh):
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _store_errors(job: Import, errors: list) -> None:
    job.error_count = (job.error_count or 0) + len(errors)
    kept = list(job.errors or [])
    room = MAX_STORED_ERRORS - len(kept)
    if room > 0 and errors:
        job.errors = kept + errors[:room]


def run_import(import_id: int, *, session_factory: SessionFactory, batch_lines: int = BATCH_LINES) -> Import | None:
    """Run (or resume) one import job, a transaction per batch; returns the finished job row."""
    with session_factory() as session:
        job = session.get(Import, import_id, with_for_update=True)
        if job is None or job.status in ("succeeded", "failed"):
            return job
        job.status = "running"
        job.started_at = job.started_at or utcnow()
        resume_at = job.lines_read or 0
        session.commit()
    try:
        with open(job.path, "rb") as fh:
            for batch in _batches(fh, batch_lines):
                if batch[-1].number <= resume_at:
                    continue  # done by an earlier delivery of this job
                batch = [ln for ln in batch if ln.number > resume_at]
                _import_one_batch(session_factory, import_id, batch)
    except FileNotFoundError:
        return _finish(session_factory, import_id, error="The import file is gone; upload it again.")
    except (DBAPIError, OSError) as exc:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            raise  # the database is away: the task retries and resumes
        log.exception("import %s failed", import_id)
        return _finish(session_factory, import_id, error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
    return _finish(session_factory, import_id)


def _import_one_batch(session_factory: SessionFactory, import_id: int, batch: list[reader.Line]) -> None:
    errors = [{"line": ln.number, "id": ln.external_id, "message": ln.error} for ln in batch if ln.error]
    with session_factory() as session:
        job = session.get(Import, import_id, with_for_update=True)
        importer = _importer_for(session, job)
        counts = dict(importer.counts)
        try:
            with session.begin_nested():
                added, skipped = importer.import_batch(batch, errors)
        except (IntegrityError, DBAPIError) as exc:
            if exc.connection_invalidated:
                raise
            # One line broke the batch (a constraint the validator does not know): line by line.
            log.warning("import %s: batch at line %s failed (%s: %s); retrying line by line", import_id,
                        batch[0].number, exc.__class__.__name__, " ".join(str(exc.orig).split())[:300])
            importer.reset_caches()
            importer.counts = counts
            added = skipped = 0
            for ln in batch:
                if ln.record is None:
                    continue
                try:
                    counts = dict(importer.counts)
                    with session.begin_nested():
                        a, k = importer.import_batch([ln], errors)
                    added, skipped = added + a, skipped + k
                except (IntegrityError, DBAPIError) as one:
                    if one.connection_invalidated:
                        raise
                    importer.reset_caches()
                    importer.counts = dict(counts)
                    errors.append({"line": ln.number, "id": ln.record.id,
                                   "message": f"refused by the database: {' '.join(str(one.orig).split())[:200]}"})
        errors.sort(key=lambda e: e["line"])
        job.records_added = (job.records_added or 0) + added
        job.records_skipped = (job.records_skipped or 0) + skipped
        job.lines_read = batch[-1].number
        job.bytes_read = batch[-1].offset
        job.counts = dict(importer.counts)
        _store_errors(job, errors)
        session.commit()
        _refresh_statistics(session, importer, job.records_added or 0)


def _refresh_statistics(session: Session, importer: Importer, added: int) -> None:
    """PostgreSQL plans by the statistics autovacuum gathers, which lag behind a bulk load: a table
    filled in the last minute still looks empty, and the external-id lookups then scan every row of
    a kind instead of the unique index — quadratic over a large import (at 100,000 decisions a
    lookup took over a second). ANALYZE (a sample, a fraction of a second; it blocks no reader or
    writer) each time the job's records have doubled keeps the plans right."""
    if added < max(ANALYZE_FROM, 2 * importer.analyzed_at) or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("ANALYZE import_records, edits"))
    session.commit()
    importer.analyzed_at = added


_IMPORTERS: dict[int, Importer] = {}


def _importer_for(session: Session, job: Import) -> Importer:
    """One importer (and its caches) per job for the life of the job, bound to the batch's session."""
    importer = _IMPORTERS.get(job.id)
    if importer is None:
        _IMPORTERS.clear()  # one job at a time per process keeps its caches; others start cold
        importer = Importer(session, job)
        _IMPORTERS[job.id] = importer
    importer.session = session
    importer.job = job
    return importer


def _finish(session_factory: SessionFactory, import_id: int, *, error: str | None = None) -> Import:
    _IMPORTERS.pop(import_id, None)
    with session_factory() as session:
        job = session.get(Import, import_id, with_for_update=True)
        job.status = "failed" if error else "succeeded"
        job.error = error
        job.finished_at = utcnow()
        if not error:
            job.bytes_read = job.bytes_total
        events.record(session, kind="import.failed" if error else "import.finished", project_id=job.project_id,
                      source="ai", data={"import_id": job.id, "records_added": job.records_added,
                                         "records_skipped": job.records_skipped, "errors": job.error_count,
                                         "error": error})
        session.commit()
        session.refresh(job)
        session.expunge(job)
        if job.path.startswith(str(imports_dir())) and not error:
            Path(job.path).unlink(missing_ok=True)  # an upload is kept only until it is imported
        return job


def project_of(session: Session, job: Import) -> Project:
    return session.get(Project, job.project_id)
