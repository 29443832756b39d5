"""Run services, the run page and the JSON API (in the rolled-back test database)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.demo import DEMO_TEXT
from app.documents import service as documents
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import Edit, Event, Feedback, Guideline, Run, Stage
from app.runs import service
from tests.conftest import api_headers, login


@pytest.fixture
def writer(member):
    return member("writer")


@pytest.fixture
def document(db, project, writer):
    return documents.create_document(db, project_id=project.id, title="Notes", text=DEMO_TEXT, actor=writer)


def finished_run(db, run: Run, edits: list[tuple[str, str, str]]) -> Run:
    """Mark a run succeeded with the given (original, replacement, status) edits."""
    run.status = "succeeded"
    text = run.version.text
    for original, replacement, status in edits:
        start = text.index(original)
        db.add(Edit(run_id=run.id, version_id=run.version_id, start=start, end=start + len(original),
                    original=original, replacement=replacement, status=status))
    db.flush()
    return run


def test_start_run_queues_after_commit(db, document, writer, project, sent_tasks):
    run = service.start_run(db, document_id=document.id, user=writer, feedback="  keep it formal ")
    assert run.status == "queued" and run.version_id == document.current_version_id
    assert run.model == project.model and run.params["verify_threshold"] == project.verify_threshold
    assert sent_tasks == []  # nothing is sent before commit
    db.commit()
    assert sent_tasks == [("runs.execute", (run.id,))]
    feedback = db.scalar(select(Feedback).where(Feedback.used_by_run_id == run.id))
    assert feedback.text == "keep it formal" and run.feedback == "keep it formal"
    kinds = set(db.scalars(select(Event.kind).where(Event.run_id == run.id)))
    assert {"run.started", "feedback.given"} <= kinds


def test_start_run_refuses_a_second_active_run(db, document, writer):
    first = service.start_run(db, document_id=document.id, user=writer)
    with pytest.raises(Conflict, match=f"Run {first.id}"):
        service.start_run(db, document_id=document.id, user=writer)
    # A comparison variant is a separate lane.
    service.start_run(db, document_id=document.id, user=writer, variant="B", model="emend/offline-reviser")


def test_start_run_refuses_while_edits_are_undecided(db, document, writer):
    run = finished_run(db, service.start_run(db, document_id=document.id, user=writer),
                       [("the the", "the", "pending"), ("beleive", "believe", "accepted")])
    with pytest.raises(Conflict, match="1 undecided edit"):
        service.start_run(db, document_id=document.id, user=writer)
    db.scalar(select(Edit).where(Edit.run_id == run.id, Edit.status == "pending")).status = "rejected"
    db.flush()
    assert service.start_run(db, document_id=document.id, user=writer).status == "queued"


def test_start_run_refuses_a_stopped_loop(db, document, writer):
    document.stop_reason = "max_depth"
    db.flush()
    with pytest.raises(Conflict, match="maximum depth"):
        service.start_run(db, document_id=document.id, user=writer)


def test_only_the_writer_or_an_admin_starts_runs(db, document, member):
    with pytest.raises(NotFound):
        service.start_run(db, document_id=document.id, user=member("writer"))
    with pytest.raises(Forbidden):
        service.start_run(db, document_id=document.id, user=member("annotator"))


def test_cancel_run(db, document, writer):
    run = service.start_run(db, document_id=document.id, user=writer)
    assert service.cancel_run(db, run_id=run.id, user=writer).status == "cancelled"
    assert service.cancel_run(db, run_id=run.id, user=writer).status == "cancelled"  # idempotent
    assert db.scalar(select(Event).where(Event.run_id == run.id, Event.kind == "run.cancelled")) is not None
    done = finished_run(db, service.start_run(db, document_id=document.id, user=writer), [])
    with pytest.raises(Conflict, match="already succeeded"):
        service.cancel_run(db, run_id=done.id, user=writer)


def test_do_not_repeat_lists_rejections_not_modified_proposals(db, document, writer):
    run = finished_run(db, service.start_run(db, document_id=document.id, user=writer), [
        ("the the", "the", "rejected"), ("beleive", "believe", "modified"),
        ("a early", "an early", "accepted"), ("then", "than", "pending")])
    shadow = db.scalar(select(Edit).where(Edit.run_id == run.id, Edit.original == "then"))
    shadow.status, shadow.decision_source = "rejected", "ai"  # a prediction, not a person's decision
    db.flush()
    got = service.do_not_repeat(db, document_id=document.id)
    # A modification wanted the passage changed (not as proposed): it is no rejection (issue 9).
    assert sorted(d["original"] for d in got) == ["the the"]


def test_guidelines_for_scope(db, document, writer, project, site_admin):
    other = documents.create_document(db, project_id=project.id, title="Other", text="Other text.", actor=writer)
    project.guidelines = "Use British spelling."
    db.add_all([
        Guideline(project_id=project.id, text="No contractions.", created_by_id=site_admin.id),
        Guideline(project_id=project.id, document_id=document.id, text="Keep quotes.", created_by_id=writer.id),
        Guideline(project_id=project.id, document_id=other.id, text="Other doc only.", created_by_id=writer.id),
        Guideline(project_id=project.id, text="Retired.", active=False, created_by_id=site_admin.id),
    ])
    db.flush()
    assert service.guidelines_for(db, document=document) == [
        "Use British spelling.", "No contractions.", "Keep quotes."]


def test_rerun_validates_the_corrected_output(db, document, writer, member):
    run = finished_run(db, service.start_run(db, document_id=document.id, user=writer), [])
    db.add(Stage(run_id=run.id, position=0, name="critique", status="succeeded", parsed_output={"critiques": []}))
    db.add(Stage(run_id=run.id, position=1, name="propose", status="succeeded", parsed_output={"edits": []}))
    db.flush()
    annotator = member("annotator")
    with pytest.raises(Invalid, match="not found"):
        service.rerun_from(db, run_id=run.id, position=1, user=annotator,
                           parsed_output={"edits": [{"original": "nowhere to be found", "replacement": "x"}]})
    with pytest.raises(Conflict, match="never reached the verify"):
        service.rerun_from(db, run_id=run.id, position=2, user=annotator, parsed_output={"scores": []})
    with pytest.raises(NotFound):
        service.rerun_from(db, run_id=run.id, position=1, user=member("writer"), parsed_output={"edits": []})


# ---------------------------------------------------------------- pages and API

def test_run_page_polls_while_running_and_stops_when_done(db, client, document, writer):
    run = service.start_run(db, document_id=document.id, user=writer)
    db.commit()
    login(client, writer)
    page = client.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert 'hx-trigger="every 1s"' in page.text and "Cancel run" in page.text
    assert f'href="/documents/{document.id}"' in page.text and f'href="/runs/{run.id}/trace"' in page.text

    finished_run(db, run, [("the the", "the", "pending")])
    run.dropped_repeats = 2
    db.commit()
    block = client.get(f"/runs/{run.id}", headers={"HX-Request": "true"})
    assert block.status_code == 200 and "<html" not in block.text
    assert 'id="run-status"' in block.text and "every 1s" not in block.text
    assert "1 edit proposed" in block.text and "2 already rejected before" in block.text


def test_run_page_shows_the_error_and_cancels(db, client, document, writer):
    run = service.start_run(db, document_id=document.id, user=writer)
    db.commit()
    login(client, writer)
    response = client.post(f"/runs/{run.id}/cancel", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "status-cancelled" in response.text
    failed = service.start_run(db, document_id=document.id, user=writer)
    failed.status, failed.error = "failed", "The propose stage failed: <b>not JSON</b>"
    db.commit()
    page = client.get(f"/runs/{failed.id}")
    assert "The propose stage failed: &lt;b&gt;not JSON&lt;/b&gt;" in page.text


def test_run_page_hides_other_writers_runs(db, client, document, writer, member):
    run = service.start_run(db, document_id=document.id, user=writer)
    db.commit()
    login(client, member("writer"))
    assert client.get(f"/runs/{run.id}").status_code == 404


def test_api_start_read_cancel(db, client, document, writer):
    headers = api_headers(db, writer)
    db.commit()
    started = client.post(f"/api/v1/documents/{document.id}/runs", json={"feedback": "be brief"}, headers=headers)
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    body = client.get(f"/api/v1/runs/{run_id}", headers=headers).json()
    assert body["status"] == "queued" and body["stop_reason"] is None and body["stages"] == []
    again = client.post(f"/api/v1/documents/{document.id}/runs", json={}, headers=headers)
    assert again.status_code == 409 and "still queued or running" in again.json()["detail"]
    cancelled = client.post(f"/api/v1/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    run = db.get(Run, run_id)
    finished_run(db, run, [("beleive", "believe", "pending")])
    db.add(Stage(run_id=run_id, position=0, name="critique", status="succeeded", model="m", attempts=1))
    db.commit()
    body = client.get(f"/api/v1/runs/{run_id}", headers=headers).json()
    assert body["stages"][0]["name"] == "critique" and body["stages"][0]["attempts"] == 1
    [edit] = body["edits"]
    assert edit["original"] == "beleive" and edit["replacement"] == "believe" and edit["status"] == "pending"
    assert {"id", "start", "end", "intent", "rationale", "confidence"} <= set(edit)


def test_api_needs_the_write_scope_to_start(db, client, document, writer):
    headers = api_headers(db, writer, scopes=["read"])
    db.commit()
    response = client.post(f"/api/v1/documents/{document.id}/runs", json={}, headers=headers)
    assert response.status_code == 403
