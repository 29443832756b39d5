from sqlalchemy import select

from app.accounts import service as accounts
from app.models import Event
from tests.conftest import api_headers, login


def test_list_projects_with_role(client, db, project, site_admin, member):
    writer = member("writer")
    accounts.create_project(db, name="Not theirs", actor=site_admin)
    r = client.get("/api/v1/projects", headers=api_headers(db, writer, ["read"]))
    assert r.status_code == 200
    assert [(p["id"], p["role"]) for p in r.json()] == [(project.id, "writer")]


def test_get_project_settings_and_404_for_non_members(client, db, project, site_admin, member):
    writer = member("writer")
    other = accounts.create_project(db, name="Other", actor=site_admin)
    headers = api_headers(db, writer, ["read"])
    r = client.get(f"/api/v1/projects/{project.id}", headers=headers)
    assert r.status_code == 200 and r.json()["max_depth"] == 3 and r.json()["segment_unit"] == "sentence"
    assert client.get(f"/api/v1/projects/{other.id}", headers=headers).status_code == 404


def test_patch_project_validates_like_the_page_and_records_event(client, db, project, site_admin):
    headers = api_headers(db, site_admin, ["read", "admin"])
    r = client.patch(f"/api/v1/projects/{project.id}", json={"verify_threshold": 0.9, "shadow_user": True},
                     headers=headers)
    assert r.status_code == 200 and r.json()["verify_threshold"] == 0.9 and r.json()["shadow_user"] is True
    event = db.scalars(select(Event).where(Event.kind == "project.updated")).one()
    assert event.data["fields"] == ["shadow_user", "verify_threshold"]
    r = client.patch(f"/api/v1/projects/{project.id}", json={"verify_threshold": 3, "segment_unit": "word"},
                     headers=headers)
    assert r.status_code == 422
    assert "Verify threshold: input should be less than or equal to 1" in r.json()["detail"]
    r = client.patch(f"/api/v1/projects/{project.id}", json={"owner": "me"}, headers=headers)
    assert r.status_code == 422 and "unknown setting" in r.json()["detail"]


def test_patch_needs_admin_scope_and_admin_role(client, db, project, site_admin, member):
    for scopes in (["read"], ["read", "write", "annotate", "export"]):
        r = client.patch(f"/api/v1/projects/{project.id}", json={"max_depth": 4},
                         headers=api_headers(db, site_admin, scopes))
        assert r.status_code == 403 and "'admin' scope" in r.json()["detail"]
    r = client.patch(f"/api/v1/projects/{project.id}", json={"max_depth": 4},
                     headers=api_headers(db, member("annotator"), ["read", "admin"]))
    assert r.status_code == 403
    db.refresh(project)
    assert project.max_depth == 3


def test_members_api(client, db, project, site_admin, member):
    annotator = member("annotator", name="Ann")
    r = client.get(f"/api/v1/projects/{project.id}/members", headers=api_headers(db, site_admin, ["read"]))
    assert r.status_code == 200
    assert {(m["user_id"], m["role"]) for m in r.json()} == {(site_admin.id, "admin"), (annotator.id, "annotator")}
    r = client.get(f"/api/v1/projects/{project.id}/members", headers=api_headers(db, annotator, ["read"]))
    assert r.status_code == 403


def test_bearer_calls_need_no_csrf_but_cookie_sessions_do(client, db, project, site_admin):
    # A bearer-token call carries no session cookie, so no CSRF token is needed...
    r = client.patch(f"/api/v1/projects/{project.id}", json={"max_depth": 6},
                     headers=api_headers(db, site_admin, ["admin"]))
    assert r.status_code == 200
    # ...but a signed-in browser session calling the API without the CSRF header is refused.
    login(client, site_admin)
    del client.headers["x-csrftoken"]
    r = client.patch(f"/api/v1/projects/{project.id}", json={"max_depth": 7})
    assert r.status_code == 403
    db.refresh(project)
    assert project.max_depth == 6
