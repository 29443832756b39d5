"""Fixtures of the export tests: a small world of decisions, labels and events, inserted directly.

`datasets` must never touch the network: offline mode and a temporary HF home are set before
it is imported.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="emend-hf-"))

import pytest

from app.config import get_settings
from app.events import service as events
from app.models import (
    Annotation,
    Comparison,
    Critique,
    Document,
    Edit,
    Feedback,
    Run,
    Stage,
    User,
    Version,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
V1 = "The team arrived at the the river. We beleive it is fast. The end."


@dataclass
class World:
    admin: User
    writer: User
    annotator: User
    project: object
    document: Document
    v1: Version
    v2: Version
    v3: Version
    r1: Run
    r1b: Run
    r2: Run
    edits: dict


def _version(db, document, number, text, depth, parent=None, run=None, by=None) -> Version:
    v = Version(document_id=document.id, number=number, depth=depth, parent_id=parent.id if parent else None,
                source_run_id=run.id if run else None, text=text,
                text_sha256=hashlib.sha256(text.encode()).hexdigest(), created_by_id=by.id if by else None,
                created_at=T0 + timedelta(hours=number))
    db.add(v)
    db.flush()
    return v


def _edit(db, run, version, original, replacement, status, *, by=None, source="human", modified=None,
          occurrence=0, hours=1) -> Edit:
    start = -1
    for _ in range(occurrence + 1):
        start = version.text.index(original, start + 1)
    e = Edit(run_id=run.id, version_id=version.id, start=start, end=start + len(original), original=original,
             replacement=replacement, intent="fluency", rationale="", confidence=0.8, status=status,
             decided_replacement=modified, decision_source=source if status != "pending" else None,
             decided_by_id=by.id if by and status != "pending" else None,
             decided_at=T0 + timedelta(hours=hours) if status != "pending" else None)
    db.add(e)
    db.flush()
    return e


@pytest.fixture
def export_dir(tmp_path, monkeypatch):
    path = tmp_path / "exports"
    monkeypatch.setattr(get_settings(), "export_dir", str(path))
    return path


@pytest.fixture
def world(db, project, site_admin, member) -> World:
    writer = member("writer", name="Wren")
    annotator = member("annotator", name="Ann")
    document = Document(project_id=project.id, owner_id=writer.id, title="River notes")
    db.add(document)
    db.flush()
    v1 = _version(db, document, 1, V1, 0, by=writer)
    r1 = Run(project_id=project.id, document_id=document.id, version_id=v1.id, model="model-one", status="succeeded",
             created_by_id=writer.id)
    r1b = Run(project_id=project.id, document_id=document.id, version_id=v1.id, model="model-two",
              status="succeeded", created_by_id=writer.id, variant="b")
    db.add_all([r1, r1b])
    db.flush()
    edits = {
        "doubled": _edit(db, r1, v1, "the the", "the", "accepted", by=writer),
        "spelling": _edit(db, r1, v1, "beleive", "believe", "modified", by=writer, modified="think"),
        "ending": _edit(db, r1, v1, "The end.", "Fin.", "rejected", by=writer, hours=2),
        "fast": _edit(db, r1, v1, "fast", "quick", "accepted", source="ai", hours=30),
        "other": _edit(db, r1b, v1, "the the", "a", "rejected", by=writer),
        "pending": _edit(db, r1b, v1, "river", "stream", "pending"),
    }
    v2_text = "The team arrived at the river. We think it is quick. The end."
    v2 = _version(db, document, 2, v2_text, 1, parent=v1, run=r1, by=writer)
    r1.applied_version_id = v2.id
    r2 = Run(project_id=project.id, document_id=document.id, version_id=v2.id, model="model-one",
             status="succeeded", created_by_id=writer.id, feedback="keep it short")
    db.add(r2)
    db.flush()
    stage = Stage(run_id=r2.id, position=0, name="critique", status="succeeded")
    db.add(stage)
    db.flush()
    critique = Critique(run_id=r2.id, stage_id=stage.id, version_id=v2.id, position=0, start=0, end=30,
                        segment=v2_text[:30], category="wordy", severity="low", text="Say who the team is.")
    db.add(critique)
    db.add(Feedback(document_id=document.id, run_id=r1.id, used_by_run_id=r2.id, user_id=writer.id,
                    text="keep it short"))
    edits["short"] = _edit(db, r2, v2, "The end.", "", "accepted", by=writer, hours=3)
    v3 = _version(db, document, 3, "The team arrived at the river. We think it is quick. ", 2, parent=v2, run=r2,
                  by=writer)
    r2.applied_version_id = v3.id
    db.add(Comparison(project_id=project.id, version_id=v1.id, run_a_id=r1.id, run_b_id=r1b.id,
                      user_id=writer.id, choice="a", created_at=T0 + timedelta(hours=4)))
    for step, (text, label) in enumerate([("The team arrived at the river.", 1), ("We think it is quick.", -1),
                                          ("The end.", 0)]):
        db.add(Annotation(project_id=project.id, user_id=annotator.id, target_kind="segment", target_id=v2.id,
                          step=step, segment_unit="sentence", segment_text=text, label=label,
                          updated_at=T0 + timedelta(hours=5)))
    db.add(Annotation(project_id=project.id, user_id=annotator.id, target_kind="critique", target_id=critique.id,
                      step=0, label=1, updated_at=T0 + timedelta(hours=5)))
    shown = [edits["doubled"].id, edits["spelling"].id, edits["ending"].id]
    events.record(db, kind="edits.shown", actor=writer, project_id=project.id, document_id=document.id,
                  run_id=r1.id, data={"edit_ids": shown, "positions": [0, 1, 2]})
    events.record(db, kind="edits.shown", actor=writer, project_id=project.id, document_id=document.id,
                  run_id=r1.id, data={"edit_ids": [edits["doubled"].id], "positions": [3]})
    events.record(db, kind="edit.decided", actor=writer, subject=edits["doubled"], project_id=project.id,
                  data={"status": "accepted", "user_id": writer.id, "email": writer.email})
    db.flush()
    return World(site_admin, writer, annotator, project, document, v1, v2, v3, r1, r1b, r2, edits)
