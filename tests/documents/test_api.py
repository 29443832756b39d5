import pytest

from tests.conftest import api_headers
from tests.edits.factories import TEXT, make_document


@pytest.fixture
def writer(member):
    return member("writer")


def test_create_and_read_a_document(client, db, writer, project):
    headers = api_headers(db, writer)
    created = client.post("/api/v1/documents", json={"project_id": project.id, "title": "API doc", "text": TEXT},
                          headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    document = client.get(f"/api/v1/documents/{body['id']}", headers=headers).json()
    assert document["current_version_id"] == body["version_id"] and document["depth"] == 0
    assert document["stop_reason"] is None and document["latest_run_id"] is None
    version = client.get(f"/api/v1/versions/{body['version_id']}", headers=headers).json()
    assert version["text"] == TEXT and version["number"] == 1 and version["depth"] == 0
    empty = client.post("/api/v1/documents", json={"project_id": project.id, "title": "x", "text": " "},
                        headers=headers)
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]


def test_read_scope_cannot_write_and_others_get_404(client, db, writer, project, member):
    doc = make_document(db, writer, project)
    read_only = api_headers(db, writer, scopes=["read"])
    assert client.post("/api/v1/documents", json={"project_id": project.id, "text": "x"},
                       headers=read_only).status_code == 403
    other = api_headers(db, member("writer"))
    assert client.get(f"/api/v1/documents/{doc.id}", headers=other).status_code == 404
    assert client.get(f"/api/v1/versions/{doc.current_version_id}", headers=other).status_code == 404


def test_versions_and_feedback(client, db, writer, project):
    doc = make_document(db, writer, project)
    headers = api_headers(db, writer)
    listed = client.get(f"/api/v1/documents/{doc.id}/versions", headers=headers).json()
    assert [v["number"] for v in listed] == [1]
    fb = client.post(f"/api/v1/documents/{doc.id}/feedback", json={"text": "be brief", "save_as": "document"},
                     headers=headers)
    assert fb.status_code == 201 and fb.json()["guideline_id"] is not None
    bad = client.post(f"/api/v1/documents/{doc.id}/feedback", json={"text": "x", "save_as": "galaxy"},
                      headers=headers)
    assert bad.status_code == 422
