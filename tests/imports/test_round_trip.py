"""Round trip: a project's `events` export, converted (app/imports/convert.py), imports into an
empty instance with the same metrics."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import set_engine
from app.edits import service as edits
from app.exports import formats
from app.exports.bundle import Bundle
from app.imports import convert
from app.metrics import service as metrics
from app.models import Annotation, Edit, Project, User, Version
from app.runs import pipeline
from app.runs import service as runs
from tests.conftest import PASSWORD, migrated_engine
from tests.edits.factories import make_document
from tests.imports.fixtures import import_file, same_session

TEXT = ("Teh cat sat on the the mat. Their are a apple on teh table. In order to eat it, the cat "
        "waited waited for a hour. It was is very happy.")


def _figures(m) -> dict:
    out = m.as_dict()
    # People are new users on the other side (named by their old ids): compare their counts, not names.
    out["acceptance_by_person"] = sorted((b["accepted"], b["modified"], b["rejected"], b["pending"])
                                         for b in out["acceptance_by_person"])
    for key in ("project_id", "runs_over_time", "decisions_over_time"):
        out.pop(key, None)
    return out


def _loop(db, doc, writer, project, site_admin):
    """Two real runs of the offline reviser: decisions of every kind, exposure, feedback, one applied version."""
    run = runs.start_run(db, document_id=doc.id, user=writer)
    pipeline.execute(run.id, session_factory=same_session(db))
    db.expire_all()
    found = db.scalars(select(Edit).where(Edit.run_id == run.id).order_by(Edit.start)).all()
    assert len(found) >= 3, [e.original for e in found]
    edits.record_exposure(db, run=run, edit_ids_in_order=[e.id for e in found], user=writer)
    edits.decide_edit(db, edit_id=found[0].id, user=writer, decision="accept")
    edits.decide_edit(db, edit_id=found[1].id, user=writer, decision="reject")
    edits.decide_edit(db, edit_id=found[2].id, user=writer, decision="modify", replacement="quite")
    for e in found[3:]:
        edits.decide_edit(db, edit_id=e.id, user=site_admin, decision="accept")
    edits.apply_run(db, run_id=run.id, user=writer)
    db.flush()
    db.refresh(doc)
    second = runs.start_run(db, document_id=doc.id, user=writer, feedback="Keep it informal.")
    pipeline.execute(second.id, session_factory=same_session(db))
    _label(db, site_admin, doc, found)


def _label(db, admin, doc, found):
    """Step labels on the first version (one changed afterwards: only its final state is carried) and
    a label on an edit."""
    from app.annotations import service as annotations

    first = db.scalar(select(Version).where(Version.document_id == doc.id).order_by(Version.number))
    annotations.save_annotation(db, user=admin, target_kind="segment", target_id=first.id, step=0, label=1)
    annotations.save_annotation(db, user=admin, target_kind="segment", target_id=first.id, step=1, label=1)
    annotations.save_annotation(db, user=admin, target_kind="segment", target_id=first.id, step=1, label=-1,
                                comment="not a sentence yet")
    annotations.save_annotation(db, user=admin, target_kind="segment", target_id=first.id, step=2, label=0)
    annotations.save_annotation(db, user=admin, target_kind="edit", target_id=found[1].id, label=-1)
    db.flush()


def _labels(session, project_id: int) -> list[tuple]:
    """Every label with what it is on (the version's number and the step's text, or the edit's change)."""
    rows = session.execute(
        select(Annotation.target_kind, Annotation.target_id, Annotation.step, Annotation.label,
               Annotation.comment, Annotation.segment_text).where(Annotation.project_id == project_id)).all()
    out = []
    for kind, target_id, step, label, comment, segment_text in rows:
        if kind == "segment":
            target = ("version", session.get(Version, target_id).number)
        else:
            edit = session.get(Edit, target_id)
            target = (edit.original, edit.replacement)
        out.append((kind, target, step, label, comment, segment_text))
    return sorted(out, key=repr)


def test_events_export_round_trip(db, engine, site_admin, project, writer, tmp_path):
    doc = make_document(db, writer, project, text=TEXT)
    _loop(db, doc, writer, project, site_admin)
    db.flush()
    ctx = formats.Context(filters=formats.Filters(project_id=project.id))
    bundle = Bundle(tmp_path / "export", jsonl=True, parquet=False, gzip_=False)
    for name in formats.TABLES["events"]:
        bundle.table(name, formats.schema("events", name, ctx))
    for name, row in formats.BUILDERS["events"](db, ctx):
        bundle.tables[name].write(row)
    bundle.close()
    source = _figures(metrics.project_metrics(db, user=site_admin, project_id=project.id))
    source_labels = _labels(db, project.id)
    out = tmp_path / "log.jsonl"
    assert convert.convert_to_file(tmp_path / "export", out) > 0

    backend = engine.dialect.name
    with migrated_engine(backend, tmp_path, prefix="emend_roundtrip") as other:
        set_engine(other)
        try:
            with Session(other, expire_on_commit=False) as session:
                from app.accounts import service as accounts

                admin = accounts.create_user(session, email="admin@other.example", password=PASSWORD,
                                             is_site_admin=True)
                target = accounts.create_project(session, name="Imported", actor=admin)
                session.commit()
                job = import_file(session, actor=admin, project=target, path=out, batch_lines=7)
                session.commit()
                assert job.status == "succeeded" and job.error_count == 0, job.errors
                assert session.scalar(select(Project.id).where(Project.id != target.id)) is None
                copied = _figures(metrics.project_metrics(session, user=admin, project_id=target.id))
                copied_labels = _labels(session, target.id)
                assert session.scalar(select(User.id).where(User.email == "admin@other.example")) == admin.id
        finally:
            set_engine(engine)
    assert copied == source
    assert len(source_labels) == 4 and copied_labels == source_labels
    assert ("segment", ("version", 1), 1, -1, "not a sentence yet") in [row[:5] for row in copied_labels]
    assert source["acceptance_by_depth"][0]["decided"] >= 3
