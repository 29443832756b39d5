"""Project metrics: acceptance by depth / intent / model / person, runs, loops, time to decide."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.edits import service as edits
from app.errors import NotFound
from app.metrics import service
from tests.conftest import api_headers, login
from tests.edits.factories import make_run


@pytest.fixture
def decided(db, doc, writer):
    """Depth 0: one edit accepted, one rejected, one modified, then applied. Depth 1: one edit
    pending and one only predicted by the shadow user (source ai), which counts as pending."""
    first = make_run(db, doc, [("Teh", "The", "fluency"), ("the the", "the", "fluency"),
                               ("in order to", "to", "clarity")], user=writer)
    first.finished_at = utcnow() - timedelta(seconds=60)
    by_original = {e.original: e for e in first.edits}
    edits.decide_edit(db, edit_id=by_original["Teh"].id, user=writer, decision="accept")
    edits.decide_edit(db, edit_id=by_original["the the"].id, user=writer, decision="reject")
    edits.decide_edit(db, edit_id=by_original["in order to"].id, user=writer, decision="modify",
                      replacement="so as to")
    edits.apply_run(db, run_id=first.id, user=writer)
    db.flush()  # the sessions do not autoflush; refresh would read the old current version
    db.refresh(doc)
    second = make_run(db, doc, [("very good", "fine", "clarity"), ("happy", "glad", "meaning-changed")],
                      user=writer)
    predicted = next(e for e in second.edits if e.original == "happy")
    predicted.status, predicted.decision_source = "accepted", "ai"
    second.feedback, second.dropped_repeats = "Keep the tone plain.", 2
    db.flush()
    return first, second


def test_acceptance_by_depth_intent_and_model(db, decided, writer, project):
    m = service.project_metrics(db, user=writer, project_id=project.id)
    depth = {b.key: b.as_dict() for b in m.by_depth}
    # "modified" is its own category: the person rewrote the edit, it is not an acceptance.
    assert depth["0"] == {"key": "0", "accepted": 1, "modified": 1, "rejected": 1, "pending": 0,
                          "decided": 3, "acceptance": pytest.approx(1 / 3), "modification": pytest.approx(1 / 3),
                          "rejection": pytest.approx(1 / 3)}
    assert (depth["1"]["pending"], depth["1"]["decided"], depth["1"]["acceptance"]) == (2, 0, None)
    intent = {b.key: b for b in m.by_intent}
    assert (intent["fluency"].accepted, intent["fluency"].rejected, intent["fluency"].acceptance) == (1, 1, 0.5)
    assert (intent["clarity"].modified, intent["clarity"].pending, intent["clarity"].acceptance) == (1, 1, 0.0)
    assert intent["clarity"].modification == 1.0
    assert intent["meaning-changed"].pending == 1  # the shadow user's guess is not a decision
    assert [(b.key, b.decided, b.pending) for b in m.by_model] == [("emend/offline-reviser", 3, 2)]
    assert m.runs_by_status == {"succeeded": 2}
    assert m.edits_per_run == 2.5
    assert 59 <= m.median_seconds_to_decide < 600
    assert m.loops == [{"stop_reason": "going on", "documents": 1, "mean_depth": 1.0}]
    feedback = {b.key: (b.decided, b.pending, b.acceptance) for b in m.by_feedback}
    assert feedback == {"without feedback": (3, 0, pytest.approx(1 / 3)), "with feedback": (0, 2, None)}
    assert m.repeats_dropped == 2


def test_per_person_only_for_admins(db, decided, writer, site_admin, project, member, make_user):
    assert service.project_metrics(db, user=writer, project_id=project.id).by_person is None
    by_person = service.project_metrics(db, user=site_admin, project_id=project.id).by_person
    assert [(b.key, b.decided) for b in by_person] == [(writer.name, 3)]
    with pytest.raises(NotFound):
        service.project_metrics(db, user=make_user(), project_id=project.id)  # not a member


def test_metrics_page_and_api(db, decided, writer, project, client, make_user):
    login(client, writer)
    page = client.get(f"/projects/{project.id}/metrics")
    assert page.status_code == 200
    assert "Decisions by revision depth" in page.text and "33.3 % of 3" in page.text
    assert "Decisions by person" not in page.text
    assert f'href="/projects/{project.id}/metrics"' in client.get(f"/projects/{project.id}").text
    client.cookies.clear()
    data = client.get(f"/api/v1/projects/{project.id}/metrics", headers=api_headers(db, writer, ["read"])).json()
    assert data["acceptance_by_depth"][0]["acceptance"] == pytest.approx(1 / 3)
    assert data["acceptance_by_depth"][0]["modification"] == pytest.approx(1 / 3)
    assert data["acceptance_by_person"] is None and data["runs_by_status"] == {"succeeded": 2}
    assert data["repeats_dropped"] == 2 and len(data["acceptance_by_feedback"]) == 2
    other = client.get(f"/api/v1/projects/{project.id}/metrics", headers=api_headers(db, make_user(), ["read"]))
    assert other.status_code == 404
