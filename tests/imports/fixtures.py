"""A small revision log in the import format, and helpers to import it inside a test's session."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from app.imports import service

TEXT0 = "Teh cat sat on the the mat. It was very very happy."
TEXT1 = "The cat sat on the mat. It was very very happy."


def small_log() -> list[dict]:
    """Two documents. doc-a: depth 0 with three edits (accepted, rejected, modified), depth 1 with
    one edit (rejected). doc-b: depth 0 with one edit decided by the shadow user only (ai)."""
    return [
        {"type": "document", "id": "doc-a", "title": "A", "owner": "ann@example.org",
         "created_at": "2026-01-01T10:00:00Z"},
        {"type": "version", "id": "a0", "document": "doc-a", "depth": 0, "text": TEXT0},
        {"type": "run", "id": "run-a0", "version": "a0", "model": "gpt-x", "created_at": "2026-01-01T10:01:00Z",
         "finished_at": "2026-01-01T10:02:00Z", "propensity": 0.5},
        {"type": "edit", "id": "e1", "version": "a0", "run": "run-a0", "start": 0, "end": 3, "original": "Teh",
         "replacement": "The", "intent": "fluency", "confidence": 0.9, "shown_position": 0},
        {"type": "edit", "id": "e2", "version": "a0", "run": "run-a0", "start": 15, "end": 22,
         "original": "the the", "replacement": "the", "intent": "fluency", "shown_position": 1},
        {"type": "edit", "id": "e3", "version": "a0", "run": "run-a0", "start": 35, "end": 44,
         "original": "very very", "replacement": "very", "intent": "clarity", "shown_position": 2},
        {"type": "decision", "id": "d1", "edit": "e1", "decision": "accepted", "person": "ann@example.org",
         "at": "2026-01-01T10:03:00Z"},
        {"type": "decision", "id": "d2", "edit": "e2", "decision": "rejected", "person": "ann@example.org",
         "at": "2026-01-01T10:04:00Z"},
        {"type": "decision", "id": "d3", "edit": "e3", "decision": "modified", "replacement": "truly",
         "person": "ann@example.org", "at": "2026-01-01T10:05:00Z"},
        {"type": "feedback", "id": "f1", "document": "doc-a", "run": "run-a0", "text": "Keep it short.",
         "person": "ann@example.org"},
        {"type": "version", "id": "a1", "document": "doc-a", "depth": 1, "parent": "a0", "run": "run-a0",
         "text": TEXT1},
        {"type": "edit", "id": "e4", "version": "a1", "model": "gpt-y", "start": 31, "end": 40,
         "original": "very very", "replacement": "very", "intent": "clarity"},
        {"type": "decision", "id": "d4", "edit": "e4", "decision": "rejected", "person": "Bob"},
        {"type": "label", "id": "l1", "target": "edit", "edit": "e4", "label": -1, "person": "Bob"},
        {"type": "document", "id": "doc-b", "title": "B", "owner": "Bob"},
        {"type": "version", "id": "b0", "document": "doc-b", "depth": 0, "text": TEXT0},
        {"type": "edit", "id": "e5", "version": "b0", "model": "gpt-x", "start": 0, "end": 3, "original": "Teh",
         "replacement": "The", "intent": "fluency"},
        {"type": "decision", "id": "d5", "edit": "e5", "decision": "accepted", "source": "ai", "confidence": 0.7},
    ]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
                    encoding="utf-8")
    return path


def same_session(db):
    @contextmanager
    def factory():
        yield db
    return factory


def import_file(db, *, actor, project, path: Path, batch_lines: int = service.BATCH_LINES):
    job = service.create_import(db, actor=actor, project_id=project.id, filename=path.name, source_path=path)
    db.flush()
    service.run_import(job.id, session_factory=same_session(db), batch_lines=batch_lines)
    db.expire_all()
    return db.get(type(job), job.id)
