import pytest

from tests.conftest import api_headers
from tests.edits.factories import TEXT, make_document, make_run


@pytest.fixture
def writer(member):
    return member("writer")


@pytest.fixture
def setup(db, writer, project):
    doc = make_document(db, writer, project)
    run = make_run(db, doc, [("Teh", "The"), ("the the", "the"), ("in order to", "to")])
    return doc, run, api_headers(db, writer)


def test_decide_apply_and_read_the_new_version(client, db, setup):
    _doc, run, headers = setup
    teh, doubled, wordy = run.edits
    accepted = client.post(f"/api/v1/edits/{teh.id}/decision", json={"decision": "accept"}, headers=headers)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    again = client.post(f"/api/v1/edits/{teh.id}/decision", json={"decision": "accept"}, headers=headers)
    assert again.status_code == 200 and again.json()["decided_at"] == accepted.json()["decided_at"]
    modified = client.post(f"/api/v1/edits/{doubled.id}/decision",
                           json={"decision": "modify", "replacement": "a", "comment": "better"}, headers=headers)
    assert modified.json()["status"] == "modified" and modified.json()["decided_replacement"] == "a"
    assert modified.json()["comment"] == "better"
    missing = client.post(f"/api/v1/edits/{wordy.id}/decision", json={"decision": "modify"}, headers=headers)
    assert missing.status_code == 422
    early = client.post(f"/api/v1/runs/{run.id}/apply", headers=headers)
    assert early.status_code == 409 and "undecided" in early.json()["detail"]
    rest = client.post(f"/api/v1/runs/{run.id}/decide-all", json={"decision": "reject"}, headers=headers)
    assert rest.json()["decided"] == 1 and rest.json()["edits"][0]["id"] == wordy.id
    applied = client.post(f"/api/v1/runs/{run.id}/apply", headers=headers)
    assert applied.status_code == 201
    version = client.get(f"/api/v1/versions/{applied.json()['version_id']}", headers=headers).json()
    assert version["text"] == TEXT.replace("Teh", "The").replace("the the", "a") and version["depth"] == 1
    stale = client.post(f"/api/v1/edits/{wordy.id}/decision", json={"decision": "accept"}, headers=headers)
    assert stale.status_code == 409 and "already applied" in stale.json()["detail"]


def test_superseded_version_answers_409(client, db, setup, writer):
    doc, run, headers = setup
    from app.documents import service as documents
    documents.add_version(db, document=doc, text="Something else.", depth=0, actor=writer)
    db.flush()
    response = client.post(f"/api/v1/edits/{run.edits[0].id}/decision", json={"decision": "reject"}, headers=headers)
    assert response.status_code == 409 and "older version" in response.json()["detail"]


def test_unknown_decision_is_rejected_by_the_schema(client, setup):
    _doc, run, headers = setup
    response = client.post(f"/api/v1/edits/{run.edits[0].id}/decision", json={"decision": "maybe"}, headers=headers)
    assert response.status_code == 422


def test_seen_status_guards_against_overwriting_a_decision_made_meanwhile(client, db, setup):
    _doc, run, headers = setup
    teh = run.edits[0]
    client.post(f"/api/v1/edits/{teh.id}/decision", json={"decision": "reject"}, headers=headers)
    stale = client.post(f"/api/v1/edits/{teh.id}/decision", json={"decision": "accept", "seen_status": "pending"},
                        headers=headers)
    assert stale.status_code == 409 and "decided meanwhile" in stale.json()["detail"]
    ok = client.post(f"/api/v1/edits/{teh.id}/decision", json={"decision": "accept", "seen_status": "rejected"},
                     headers=headers)
    assert ok.status_code == 200 and ok.json()["status"] == "accepted"
