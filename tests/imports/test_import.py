"""Importing a revision log: what it makes, bad lines, idempotent re-import, metrics from the file."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.imports import service
from app.metrics import service as metrics
from app.models import Edit, Event, Feedback, Import, Run, Version
from tests.imports.fixtures import import_file, small_log, write_jsonl


def test_import_makes_the_log_and_metrics_match_the_file(db, site_admin, project, tmp_path):
    job = import_file(db, actor=site_admin, project=project, path=write_jsonl(tmp_path / "log.jsonl", small_log()))
    assert job.status == "succeeded", job.errors
    assert (job.records_added, job.records_skipped, job.error_count) == (18, 0, 0)
    assert job.counts == {"document": 2, "version": 3, "run": 1, "edit": 5, "decision": 5, "feedback": 1,
                          "label": 1}
    m = metrics.project_metrics(db, user=site_admin, project_id=project.id)
    depth = {b.key: (b.accepted, b.modified, b.rejected, b.pending) for b in m.by_depth}
    # By hand from the file: depth 0 has e1 accepted, e2 rejected, e3 modified, e5 only predicted (pending).
    assert depth == {"0": (1, 1, 1, 1), "1": (0, 0, 1, 0)}
    models = {b.key: (b.decided, b.pending) for b in m.by_model}
    assert models == {"gpt-x": (3, 1), "gpt-y": (1, 0)}
    intent = {b.key: (b.accepted, b.modified, b.rejected, b.pending) for b in m.by_intent}
    assert intent == {"fluency": (1, 0, 1, 1), "clarity": (0, 1, 1, 0)}
    assert m.runs_by_status == {"succeeded": 3}  # run-a0 and two implicit runs (a1/gpt-y, b0/gpt-x)
    # 1, 2 and 3 minutes after run-a0 finished, and d4 (no times given: both now, about 0 s).
    assert m.median_seconds_to_decide == pytest.approx(90.0, abs=0.5)
    person = sorted((b.key, b.decided) for b in m.by_person)
    assert person == [("", 3), ("Bob", 1)]  # ann has no display name; the ai decision has no person

    e4 = db.scalar(select(Edit).where(Edit.original == "very very", Edit.status == "rejected",
                                      Edit.replacement == "very").order_by(Edit.id.desc()))
    assert db.get(Version, e4.version_id).depth == 1
    e5 = db.scalars(select(Edit).where(Edit.decision_source == "ai")).one()
    assert (e5.status, e5.predicted_status, e5.predicted_confidence, e5.decided_by_id) == (
        "accepted", "accepted", 0.7, None)
    run = db.scalars(select(Run).where(Run.project_id == project.id, Run.model == "gpt-x")
                     .order_by(Run.id)).first()
    assert run.params["propensity"] == 0.5 and run.applied_version_id is not None
    assert db.scalar(select(func.count(Feedback.id)).where(Feedback.run_id == run.id)) == 1
    imported = db.scalars(select(Event).where(Event.project_id == project.id, Event.kind == "edit.decided")).all()
    assert len(imported) == 4 and all(e.data["imported"] and e.data["import_id"] == job.id for e in imported)
    shown = db.scalars(select(Event).where(Event.project_id == project.id, Event.kind == "edits.shown")).all()
    assert sorted(e.data["positions"][0]["position"] for e in shown) == [0, 1, 2]
    assert job.bytes_read == job.bytes_total and service.progress_percent(job) == 100


def test_reimport_adds_nothing(db, site_admin, project, tmp_path):
    path = write_jsonl(tmp_path / "log.jsonl", small_log())
    import_file(db, actor=site_admin, project=project, path=path)
    before = (db.scalar(select(func.count(Edit.id))), db.scalar(select(func.count(Event.id))),
              db.scalar(select(func.count(Version.id))), db.scalar(select(func.count(Run.id))))
    again = import_file(db, actor=site_admin, project=project, path=path, batch_lines=4)
    assert (again.status, again.records_added, again.records_skipped) == ("succeeded", 0, 18)
    after = (db.scalar(select(func.count(Edit.id))), db.scalar(select(func.count(Event.id))),
             db.scalar(select(func.count(Version.id))), db.scalar(select(func.count(Run.id))))
    # Only the job's own two events (requested, finished) are new.
    assert after == (before[0], before[1] + 2, before[2], before[3])


@pytest.mark.parametrize("batch_lines", [1000, 3])
def test_bad_lines_are_reported_by_number_and_the_rest_is_kept(db, site_admin, project, tmp_path, batch_lines):
    records = small_log()
    records.insert(3, "{not json")  # line 4
    records.insert(5, {"type": "edit", "id": "bad-span", "version": "a0", "start": 4, "end": 7, "original": "Teh",
                       "replacement": "The", "model": "m"})  # line 6: original is not at [4, 7)
    records.insert(6, {"type": "decision", "id": "d-ghost", "edit": "nope", "decision": "accepted",
                       "person": "ann@example.org"})  # line 7
    records.insert(7, {"type": "edit", "id": "e-intent", "version": "a0", "start": 0, "end": 3, "original": "Teh",
                       "replacement": "The", "intent": "tone", "model": "m"})  # line 8
    records.insert(8, {"type": "decision", "id": "d-early", "edit": "e3", "decision": "accepted",
                       "person": "ann@example.org"})  # line 9: e3 comes later (line 10)
    records.append({"type": "decision", "id": "d-mod", "edit": "e1", "decision": "modified",
                    "person": "x"})  # last line: no replacement
    job = import_file(db, actor=site_admin, project=project, path=write_jsonl(tmp_path / "bad.jsonl", records),
                      batch_lines=batch_lines)
    assert job.status == "succeeded"
    assert job.records_added == 18 and job.error_count == 6
    by_line = {e["line"]: e for e in job.errors}
    assert sorted(by_line) == [4, 6, 7, 8, 9, 24]
    assert "Invalid JSON" in by_line[4]["message"]
    assert "is not the text at [4, 7)" in by_line[6]["message"] and by_line[6]["id"] == "bad-span"
    assert "unknown edit 'nope'" in by_line[7]["message"]
    assert "intent must be one of" in by_line[8]["message"]
    assert "after this line" in by_line[9]["message"] or "unknown edit 'e3'" in by_line[9]["message"]
    assert "needs its replacement" in by_line[24]["message"]
    m = metrics.project_metrics(db, user=site_admin, project_id=project.id)
    assert {b.key: b.decided for b in m.by_depth} == {"0": 3, "1": 1}


def test_create_import_needs_a_project_admin(db, project, writer, tmp_path):
    from app.errors import Forbidden

    with pytest.raises(Forbidden):
        service.create_import(db, actor=writer, project_id=project.id, filename="x.jsonl", data=b"{}\n")
    assert db.scalar(select(func.count(Import.id))) == 0


def test_text_the_database_cannot_hold_is_a_line_error(db, site_admin, project, tmp_path):
    records = small_log()
    records.insert(5, {"type": "edit", "id": "e-nul", "version": "a0", "start": 0, "end": 3, "original": "Teh",
                       "replacement": "The", "rationale": "bad\u0000byte", "model": "m"})  # line 6
    job = import_file(db, actor=site_admin, project=project, path=write_jsonl(tmp_path / "nul.jsonl", records))
    assert job.status == "succeeded" and job.records_added == 18
    assert [(e["line"], e["id"]) for e in job.errors] == [(6, "e-nul")]
    assert "NUL" in job.errors[0]["message"]


def test_bulk_rows_refused_by_the_database_raise_as_sqlalchemy_would(db, project):
    """COPY (PostgreSQL) and executemany (SQLite) alike: an IntegrityError, which sends the batch
    line by line, not a driver error that would end the job."""
    from sqlalchemy.exc import IntegrityError

    from app.events import service as events

    row = events.event_values(db, kind="bench.check", project_id=project.id, data={"x": 1})
    row["document_id"] = 2**31 - 1  # no such document
    with pytest.raises(IntegrityError), db.begin_nested():
        service.insert_rows(db, Event.__table__, [row])
    service.insert_rows(db, Event.__table__, [{**row, "document_id": None}])
    assert db.scalar(select(Event.data).where(Event.kind == "bench.check")) == {"x": 1}


def test_statistics_are_refreshed_as_the_import_grows(db, site_admin, project, tmp_path, monkeypatch):
    """On PostgreSQL the job runs ANALYZE each time its records double (from ANALYZE_FROM)."""
    refreshed = []
    original = service._refresh_statistics

    def spy(session, importer, added):
        before = importer.analyzed_at
        original(session, importer, added)
        if importer.analyzed_at != before:
            refreshed.append(importer.analyzed_at)

    monkeypatch.setattr(service, "ANALYZE_FROM", 4)
    monkeypatch.setattr(service, "_refresh_statistics", spy)
    job = import_file(db, actor=site_admin, project=project, path=write_jsonl(tmp_path / "log.jsonl", small_log()),
                      batch_lines=2)
    assert job.status == "succeeded" and job.records_added == 18
    if db.get_bind().dialect.name == "postgresql":
        assert refreshed == [4, 8, 16]  # doubling: not after every batch
    else:
        assert refreshed == []
