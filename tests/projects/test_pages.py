
from sqlalchemy import event, select

from app.accounts import service as accounts
from app.models import Event, Membership, Project
from tests.conftest import login
from tests.projects.helpers import make_document, make_run

HX = {"HX-Request": "true"}


def test_project_page_lists_documents_with_links(client, db, project, member):
    writer = member("writer", name="Wren Writer")
    document = make_document(db, project, writer, "River notes")
    make_run(db, document, "succeeded")
    login(client, writer)
    page = client.get(f"/projects/{project.id}")
    assert page.status_code == 200
    assert f'href="/documents/{document.id}"' in page.text and "River notes" in page.text
    assert "Wren Writer" in page.text and "status-succeeded" in page.text
    assert f'href="/projects/{project.id}/documents/new"' in page.text
    # Members and settings are for admins only.
    assert f"/projects/{project.id}/settings" not in page.text


def test_project_page_shows_admin_links(client, project, site_admin):
    login(client, site_admin)
    page = client.get(f"/projects/{project.id}")
    assert f'href="/projects/{project.id}/members"' in page.text
    assert f'href="/projects/{project.id}/settings"' in page.text


def test_writer_asking_for_another_project_gets_404(client, db, project, site_admin, member):
    other = accounts.create_project(db, name="Secret project", actor=site_admin)
    writer = member("writer")
    login(client, writer)
    for path in (f"/projects/{other.id}", f"/projects/{other.id}/members", f"/projects/{other.id}/settings"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "Secret project" not in r.text
    assert client.get("/projects/999999").status_code == 404


def test_writer_sees_only_own_documents_unless_shared(client, db, project, member):
    writer, other = member("writer"), member("writer")
    make_document(db, project, writer, "Mine alone")
    make_document(db, project, other, "Their draft")
    login(client, writer)
    page = client.get(f"/projects/{project.id}").text
    assert "Mine alone" in page and "Their draft" not in page
    project.share_documents = True
    db.flush()
    page = client.get(f"/projects/{project.id}").text
    assert "Mine alone" in page and "Their draft" in page


def test_annotator_sees_every_document(client, db, project, member):
    make_document(db, project, member("writer"), "First draft")
    make_document(db, project, member("writer"), "Second draft")
    login(client, member("annotator"))
    page = client.get(f"/projects/{project.id}").text
    assert "First draft" in page and "Second draft" in page
    # Annotators do not write documents.
    assert f"/projects/{project.id}/documents/new" not in page


def test_project_page_is_one_query_whatever_the_number_of_documents(client, db, project, member, engine):
    writer = member("writer")
    login(client, writer)

    def queries_for_page() -> int:
        statements = []
        listener = lambda *args: statements.append(args[2])
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"/projects/{project.id}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len([s for s in statements if "FROM documents" in s])

    make_document(db, project, writer, "one")
    few = queries_for_page()
    for i in range(30):
        make_run(db, make_document(db, project, writer, f"doc {i}"), "queued")
    assert queries_for_page() == few == 1


def test_project_page_pages_at_100_documents(client, db, project, member):
    # Speed of this page is measured in bench/decision_load.py, not asserted here.
    writer = member("writer")
    for i in range(101):
        make_run(db, make_document(db, project, writer, f"doc {i}"), "succeeded")
    login(client, writer)
    page = client.get(f"/projects/{project.id}")
    assert page.text.count('href="/documents/') == 100 and "Older" in page.text


def test_members_page_add_change_remove_records_events(client, db, project, site_admin, make_user):
    newcomer = make_user(name="New Person")
    login(client, site_admin)
    assert client.get(f"/projects/{project.id}/members").status_code == 200
    r = client.post(f"/projects/{project.id}/members", data={"email": newcomer.email, "role": "writer"}, headers=HX)
    assert r.status_code == 200 and newcomer.email in r.text and 'id="members"' in r.text
    assert "<html" not in r.text  # only the block
    r = client.post(f"/projects/{project.id}/members/{newcomer.id}/role", data={"role": "annotator"}, headers=HX)
    assert r.status_code == 200 and "is now annotator" in r.text
    r = client.post(f"/projects/{project.id}/members/{newcomer.id}/remove", headers=HX)
    assert r.status_code == 200 and newcomer.email not in r.text
    assert db.scalar(select(Membership.id).where(Membership.user_id == newcomer.id)) is None
    events = db.execute(select(Event.kind, Event.data).where(Event.project_id == project.id,
                                                            Event.kind.like("member.%")).order_by(Event.id)).all()
    assert [(k, d["role"]) for k, d in events] == [
        ("member.added", "writer"), ("member.role_changed", "annotator"), ("member.removed", "annotator")]
    assert all(d["user_id"] == newcomer.id for _k, d in events)


def test_members_errors_are_shown_in_flash(client, project, site_admin):
    login(client, site_admin)
    r = client.post(f"/projects/{project.id}/members", data={"email": "nobody@example.com", "role": "writer"},
                    headers=HX)
    assert r.status_code == 404 and r.headers["HX-Retarget"] == "#flash" and "No user has the e-mail" in r.text
    r = client.post(f"/projects/{project.id}/members/{site_admin.id}/remove", headers=HX)
    assert r.status_code == 409 and "at least one admin" in r.text


def test_plain_form_post_redirects_back(client, project, site_admin, make_user):
    user = make_user()
    login(client, site_admin)
    r = client.post(f"/projects/{project.id}/members", data={"email": user.email, "role": "annotator"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/projects/{project.id}/members"


def test_settings_page_saves_and_records_event(client, db, project, site_admin):
    login(client, site_admin)
    page = client.get(f"/projects/{project.id}/settings")
    assert page.status_code == 200 and 'name="verify_threshold"' in page.text
    form = {"name": "Renamed", "description": "", "guidelines": "Keep it informal.", "model": project.model,
            "temperature": "0.2", "max_tokens": "1024", "timeout_seconds": "30", "max_retries": "2",
            "max_depth": "4", "verify_threshold": "0.8", "segment_unit": "paragraph",
            "share_documents": "true", "cache_enabled": "true"}
    r = client.post(f"/projects/{project.id}/settings", data=form, headers=HX)
    assert r.status_code == 200 and "Saved:" in r.text and 'id="settings-form"' in r.text
    db.refresh(project)
    assert (project.name, project.guidelines, project.max_depth, project.verify_threshold, project.segment_unit,
            project.share_documents, project.auto_apply) == ("Renamed", "Keep it informal.", 4, 0.8, "paragraph",
                                                            True, False)
    event_ = db.scalars(select(Event).where(Event.kind == "project.updated")).one()
    assert event_.actor_id == site_admin.id
    assert set(event_.data["fields"]) == {"name", "guidelines", "temperature", "max_tokens", "timeout_seconds",
                                          "max_retries", "max_depth", "verify_threshold", "segment_unit",
                                          "share_documents"}
    # Unticking a checkbox turns the setting off.
    form.pop("share_documents")
    client.post(f"/projects/{project.id}/settings", data=form, headers=HX)
    db.refresh(project)
    assert project.share_documents is False


def test_settings_validation_error_is_422_in_flash(client, db, project, site_admin):
    login(client, site_admin)
    r = client.post(f"/projects/{project.id}/settings",
                    data={"name": "X", "model": project.model, "verify_threshold": "2", "segment_unit": "word"},
                    headers=HX)
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#flash"
    assert "Verify threshold" in r.text and "Segment unit" in r.text
    db.refresh(project)
    assert project.name == "Test project"
    assert db.scalar(select(Event.id).where(Event.kind == "project.updated")) is None


def test_non_admin_member_gets_403_on_settings(client, project, member):
    for role in ("writer", "annotator"):
        client.cookies.clear()
        login(client, member(role))
        assert client.get(f"/projects/{project.id}/settings").status_code == 403
        assert client.post(f"/projects/{project.id}/settings", data={"max_depth": "9"}, headers=HX).status_code == 403
        assert client.get(f"/projects/{project.id}/members").status_code == 403


def test_logged_in_post_without_csrf_header_is_refused(client, db, project, site_admin):
    login(client, site_admin)
    del client.headers["x-csrftoken"]
    r = client.post(f"/projects/{project.id}/settings", data={"name": "Hijacked"})
    assert r.status_code == 403
    db.refresh(project)
    assert project.name == "Test project"


def test_site_admin_creates_project_from_list(client, db, site_admin, make_user):
    login(client, site_admin)
    assert "New project" in client.get("/projects").text
    r = client.post("/projects", data={"name": "Fresh project", "description": "Hello"}, headers=HX)
    project = db.scalar(select(Project).where(Project.name == "Fresh project"))
    assert r.status_code == 200 and r.headers["HX-Redirect"] == f"/projects/{project.id}"
    assert db.scalar(select(Event.id).where(Event.kind == "project.created", Event.project_id == project.id))


def test_non_site_admin_cannot_create_project(client, db, make_user):
    login(client, make_user())
    assert "New project" not in client.get("/projects").text
    assert client.post("/projects", data={"name": "Mine"}, headers=HX).status_code == 403
    assert db.scalar(select(Project.id).where(Project.name == "Mine")) is None


def test_project_admin_can_step_down_and_leave(client, db, project, member):
    admin = member("admin")
    login(client, admin)
    r = client.post(f"/projects/{project.id}/members/{admin.id}/role", data={"role": "writer"}, headers=HX)
    assert r.status_code == 200 and r.headers["HX-Redirect"] == f"/projects/{project.id}"
    assert db.scalar(select(Membership.role).where(Membership.user_id == admin.id)) == "writer"
    # Now a writer: a plain browser post is answered with a 403 and changes nothing.
    r = client.post(f"/projects/{project.id}/members/{admin.id}/remove", follow_redirects=False)
    assert r.status_code == 403
    assert db.scalar(select(Membership.role).where(Membership.user_id == admin.id)) == "writer"
