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

Within a batch, pass A imports documents, versions, runs and edits in line order (edits in
one executemany), pass B the decisions, feedback and labels (which nothing refers to), so a
batch of 100,000 decisions costs a few statements per 500 lines, not three per line.
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import shutil
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from app.accounts import access
from app.config import get_settings
from app.db import utcnow
from app.errors import Invalid, NotFound
from app.events import service as events
from app.imports import reader
from app.imports import schemas as s
from app.jobs import enqueue_after_commit
from app.models import (
    Annotation,
    Document,
    Edit,
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
CACHE_SIZE = 50_000  # external ids and version texts remembered between batches (bounded memory)
IMPORTED_PASSWORD = "!imported"  # not an argon2 hash: an imported person cannot sign in
PASS_B = (s.DecisionRecord, s.FeedbackRecord, s.LabelRecord)
KIND = {s.DocumentRecord: "document", s.RunRecord: "run", s.VersionRecord: "version", s.EditRecord: "edit",
        s.DecisionRecord: "decision", s.FeedbackRecord: "feedback", s.LabelRecord: "label"}


_KNOWN = (select(ImportRecord.external_id, ImportRecord.local_id)
          .where(ImportRecord.project_id == bindparam("project_id"), ImportRecord.kind == bindparam("kind"),
                 ImportRecord.external_id.in_(bindparam("exts", expanding=True))))


_INSERT_DOCUMENT = insert(Document.__table__).returning(Document.__table__.c.id)
_INSERT_VERSION = insert(Version.__table__).returning(Version.__table__.c.id)
_INSERT_RUN = insert(Run.__table__).returning(Run.__table__.c.id)
_INSERT_EDITS = insert(Edit.__table__).returning(Edit.__table__.c.id, sort_by_parameter_order=True)


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
    job = session.get(Import, import_id)
    if job is None:
        raise NotFound("No such import.")
    access.require_project(session, actor, job.project_id, roles=("admin",))
    return job


def list_imports(session: Session, *, actor: User, project_id: int, limit: int = 50) -> list[Import]:
    access.require_project(session, actor, project_id, roles=("admin",))
    return list(session.scalars(select(Import).where(Import.project_id == project_id)
                                .order_by(Import.id.desc()).limit(limit)))


def progress_percent(job: Import) -> int:
    if job.status == "succeeded":
        return 100
    if not job.bytes_total:
        return 0
    return min(99, int(100 * (job.bytes_read or 0) / job.bytes_total))


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
        info = self.versions.take(version_id)
        if info is None:
            row = self.session.execute(select(Version.text, Version.document_id, Version.depth)
                                       .where(Version.id == version_id)).one()
            info = (row[0], row[1], row[2])
            self.versions.put(version_id, info)
        return info

    def run_info(self, run_id: int) -> tuple[int, int]:
        info = self.runs.take(run_id)
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
        document_id = self.session.execute(_INSERT_DOCUMENT, {
            "project_id": self.project_id, "owner_id": owner, "title": title, "stop_reason": r.stop_reason,
            "auto_repeat": False, "created_at": when, "updated_at": when}).scalar_one()
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
        version_id = self.session.execute(_INSERT_VERSION, {
            "document_id": document_id, "number": number, "depth": r.depth, "parent_id": parent_id,
            "source_run_id": run_id, "text": r.text, "text_sha256": hashlib.sha256(r.text.encode()).hexdigest(),
            "created_by_id": author, "created_at": when}).scalar_one()
        self.next_number.put(document_id, number + 1)
        self.versions.put(version_id, (r.text, document_id, r.depth))
        self.fresh_versions.put(version_id, True)
        current[document_id] = version_id
        if run_id is not None:
            self.session.execute(update(Run).where(Run.id == run_id).values(applied_version_id=version_id))
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
        run_id = self.session.execute(_INSERT_RUN, {
            "project_id": self.project_id, "document_id": document_id, "version_id": version_id, "variant": "",
            "model": model[:200], "params": params, "status": status, "feedback": feedback,
            "dropped_repeats": dropped_repeats, "created_by_id": creator, "created_at": created,
            "started_at": created, "finished_at": finished_at or created}).scalar_one()
        self.runs.put(run_id, (version_id, document_id))
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
        ids = self.session.execute(_INSERT_EDITS, [row["values"] for row in rows]).scalars().all()
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
            existing.segment_text = r.segment_text
        self.session.flush()
        self._remember("label", r.id, existing.id, records)
        evs.append(self._event("annotation.saved", when=when, source=r.source, actor_id=user_id,
                               subject_kind="annotation", subject_id=existing.id, external_id=r.id,
                               data={"target_kind": r.target, "target_id": target_id, "step": step,
                                     "label": r.label, "comment": r.comment}))

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
        self._flush_edits(edit_rows, records, evs)
        for document_id, version_id in current.items():
            self.session.execute(update(Document).where(Document.id == document_id)
                                 .values(current_version_id=version_id))
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
        if records:
            self.session.execute(insert(ImportRecord.__table__), records)
        events.record_many(self.session, evs)
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
        table = Edit.__table__
        keys = [k for k in rows[0] if k != "id"]
        stmt = (update(table).where(table.c.id == bindparam("_id"))
                .values({k: bindparam(f"_{k}") for k in keys}))
        self.session.execute(stmt, [{f"_{k}": v for k, v in row.items()} for row in rows])


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
            log.warning("import %s: batch at line %s failed (%s); retrying line by line", import_id,
                        batch[0].number, exc.__class__.__name__)
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
