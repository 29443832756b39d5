"""The /exports page (htmx blocks, progress, cancel, downloads) and the JSON API."""
from __future__ import annotations

import hashlib

import pytest

from app.exports import service
from tests.conftest import api_headers, login

pytestmark = pytest.mark.usefixtures("export_dir")


def test_page_creates_polls_and_downloads(db, client, world, sent_tasks):
    login(client, world.admin)
    page = client.get("/exports")
    assert page.status_code == 200 and "New export" in page.text and world.project.name in page.text
    r = client.post("/exports", data={"format": "unpaired", "project_id": str(world.project.id), "jsonl": "true",
                                      "parquet": "true", "pseudonymise": "true", "licence": "cc0-1.0"},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'id="export-list"' in r.text and "is queued" in r.text
    export_id = sent_tasks[-1][1][0]
    row = client.get(f"/exports/{export_id}/row", headers={"HX-Request": "true"})
    assert f'hx-get="/exports/{export_id}/row"' in row.text and 'hx-trigger="every 2s"' in row.text
    assert "of ~6" in row.text  # rows written of the estimate
    service.build_export(db, export_id=export_id)
    row = client.get(f"/exports/{export_id}/row", headers={"HX-Request": "true"})
    assert "every 2s" not in row.text and "succeeded" in row.text and "data.parquet" in row.text
    export = service.get_export(db, actor=world.admin, export_id=export_id)
    f = next(f for f in export.manifest["files"] if f["name"] == "data.jsonl")
    download = client.get(f"/exports/{export_id}/files/data.jsonl")
    assert download.status_code == 200 and hashlib.sha256(download.content).hexdigest() == f["sha256"]
    assert client.get(f"/exports/{export_id}/files/README.md").text.startswith("---\nlicense: cc0-1.0")
    assert client.get(f"/exports/{export_id}/files/..%2Fsecret").status_code == 404


def test_page_cancel_and_plain_form_redirect(db, client, world, sent_tasks):
    login(client, world.admin)
    r = client.post("/exports", data={"format": "events", "project_id": str(world.project.id), "jsonl": "true"},
                    follow_redirects=False)
    assert r.status_code == 303
    export_id = sent_tasks[-1][1][0]
    r = client.post(f"/exports/{export_id}/cancel", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "cancelled" in r.text and "every 2s" not in r.text


def test_page_is_for_admins_only(client, world):
    login(client, world.writer)
    assert client.get("/exports").status_code == 403


def test_project_admin_sees_only_their_projects(db, client, world, make_user):
    from app.accounts import service as accounts

    padmin = make_user()
    accounts.set_member(db, project=world.project, user=padmin, role="admin", actor=world.admin)
    other = accounts.create_project(db, name="Elsewhere", actor=world.admin)
    hidden = service.create_export(db, actor=world.admin, format="sft", project_id=other.id)
    db.commit()
    login(client, padmin)
    page = client.get("/exports")
    assert page.status_code == 200 and "Elsewhere" not in page.text and "All projects</option>" not in page.text
    assert client.get(f"/exports/{hidden.id}/row").status_code == 404


def test_api_create_status_download(db, client, world):
    headers = api_headers(db, world.admin, scopes=["export"])
    r = client.post("/api/v1/exports", json={"format": "sft", "project_id": world.project.id, "parquet": True},
                    headers=headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and body["rows_estimate"] == 6 and body["files"] == []
    service.build_export(db, export_id=body["id"])
    status = client.get(f"/api/v1/exports/{body['id']}", headers=headers).json()
    assert status["status"] == "succeeded" and status["progress"] == 100 and status["rows_written"] == 6
    urls = {f["name"]: f["url"] for f in status["files"]}
    assert set(urls) == {"data.jsonl", "data.parquet", "manifest.json", "README.md"}
    data = client.get(urls["data.parquet"], headers=headers)
    assert data.headers["content-type"] == "application/vnd.apache.parquet"
    assert client.get(urls["data.jsonl"], headers=headers).headers["content-type"] == "application/x-ndjson"
    spec = client.get("/api/openapi.json").json()["paths"]["/api/v1/exports/{export_id}/files/{name}"]["get"]
    assert "application/vnd.apache.parquet" in spec["responses"]["200"]["content"]
    assert hashlib.sha256(data.content).hexdigest() == next(f["sha256"] for f in status["files"]
                                                            if f["name"] == "data.parquet")
    assert [e["id"] for e in client.get("/api/v1/exports", headers=headers).json()] == [body["id"]]


def test_api_needs_export_scope_and_valid_input(db, client, world):
    read_only = api_headers(db, world.admin, scopes=["read"])
    assert client.post("/api/v1/exports", json={"format": "sft"}, headers=read_only).status_code == 403
    headers = api_headers(db, world.admin, scopes=["export"])
    assert client.post("/api/v1/exports", json={"format": "nope"}, headers=headers).status_code == 422
    r = client.post("/api/v1/exports", json={"format": "events", "flavour": "openai"}, headers=headers)
    assert r.status_code == 422 and "openai" in r.json()["detail"]
    r = client.post("/api/v1/exports", json={"format": "events", "project_id": world.project.id}, headers=headers)
    cancel = client.post(f"/api/v1/exports/{r.json()['id']}/cancel", headers=headers)
    assert cancel.json()["status"] == "cancelled"
