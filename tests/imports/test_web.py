"""Imports through the API and the page: upload, queued job, progress, errors by line."""
from __future__ import annotations

import json

from app.imports import service
from app.models import Import
from tests.conftest import api_headers, login
from tests.imports.fixtures import same_session, small_log


def _body(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def test_api_upload_queues_a_job_that_reports_progress(db, client, site_admin, project, sent_tasks, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("EMEND_EXPORT_DIR", str(tmp_path))
    from app.config import get_settings
    get_settings.cache_clear()
    try:
        headers = api_headers(db, site_admin, ["admin", "read"])
        data = _body(small_log()) + b"{oops\n"
        r = client.post("/api/v1/imports", headers=headers, data={"project_id": str(project.id)},
                        files={"file": ("log.jsonl", data, "application/x-ndjson")})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "queued" and body["progress"] == 0
        assert ("imports.run", (body["id"],)) in [(n, tuple(a)) for n, a in sent_tasks]
        service.run_import(body["id"], session_factory=same_session(db))
        status = client.get(f"/api/v1/imports/{body['id']}", headers=headers).json()
        assert (status["status"], status["progress"], status["records_added"]) == ("succeeded", 100, 18)
        assert status["errors"] == [{"line": 19, "id": None, "message": status["errors"][0]["message"]}]
        listed = client.get(f"/api/v1/projects/{project.id}/imports", headers=headers).json()
        assert [j["id"] for j in listed] == [body["id"]]
    finally:
        get_settings.cache_clear()


def test_api_refuses_tokens_without_the_admin_scope_and_non_admins(db, client, project, site_admin, writer):
    r = client.post("/api/v1/imports", headers=api_headers(db, site_admin, ["read", "write"]),
                    data={"project_id": str(project.id)}, files={"file": ("a.jsonl", b"{}\n", "text/plain")})
    assert r.status_code == 403
    r = client.post("/api/v1/imports", headers=api_headers(db, writer), data={"project_id": str(project.id)},
                    files={"file": ("a.jsonl", b"{}\n", "text/plain")})
    assert r.status_code == 403 and db.query(Import).count() == 0


def test_page_uploads_and_shows_the_job(db, client, site_admin, project, tmp_path, monkeypatch):
    monkeypatch.setenv("EMEND_EXPORT_DIR", str(tmp_path))
    from app.config import get_settings
    get_settings.cache_clear()
    try:
        login(client, site_admin)
        page = client.get(f"/projects/{project.id}/imports")
        assert page.status_code == 200 and "New import" in page.text
        r = client.post(f"/projects/{project.id}/imports", files={"file": ("log.jsonl", _body(small_log()), "text/plain")},
                        follow_redirects=False)
        assert r.status_code == 303
        job = db.query(Import).one()
        service.run_import(job.id, session_factory=same_session(db))
        row = client.get(f"/imports/{job.id}/row", headers={"HX-Request": "true"})
        assert "succeeded" in row.text and "every 2s" not in row.text
        assert client.get(f"/projects/{project.id}/imports").text.count("log.jsonl") == 1
    finally:
        get_settings.cache_clear()
