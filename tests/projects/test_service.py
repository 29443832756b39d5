import pytest
from sqlalchemy import select

from app.accounts import access
from app.accounts import service as accounts
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import Document, Event, Membership
from app.projects import service
from tests.projects.helpers import make_document, make_run


def test_update_project_records_changed_fields_only(db, project, site_admin):
    project_, changed = service.update_project(
        db, project_id=project.id, actor=site_admin,
        changes={"temperature": "0.7", "max_depth": "5", "segment_unit": "line", "name": project.name})
    assert changed == ["max_depth", "segment_unit", "temperature"]
    assert (project_.temperature, project_.max_depth, project_.segment_unit) == (0.7, 5, "line")
    event = db.scalars(select(Event).where(Event.kind == "project.updated", Event.project_id == project.id)).one()
    assert event.data["fields"] == ["max_depth", "segment_unit", "temperature"]
    assert event.data["old"]["max_depth"] == 3 and event.data["new"]["max_depth"] == 5
    # Saving the same values again changes nothing and records nothing.
    _p, changed = service.update_project(db, project_id=project.id, actor=site_admin, changes={"max_depth": 5})
    assert changed == []
    assert db.scalar(select(Event.id).where(Event.kind == "project.updated").offset(1)) is None


@pytest.mark.parametrize("changes, message", [
    ({"verify_threshold": "1.5"}, "Verify threshold: input should be less than or equal to 1"),
    ({"segment_unit": "word"}, "Segment unit: input should be 'sentence', 'line' or 'paragraph'"),
    ({"max_depth": "0"}, "Max depth: input should be greater than or equal to 1"),
    ({"name": "   "}, "Name: string should have at least 1 character"),
    ({"model": "my model"}, "Model: must not contain spaces"),
    ({"temperature": "hot"}, "Temperature: input should be a valid number"),
    ({"colour": "blue"}, "colour: unknown setting"),
])
def test_update_project_refuses_bad_settings(db, project, site_admin, changes, message):
    with pytest.raises(Invalid) as exc:
        service.update_project(db, project_id=project.id, actor=site_admin, changes=changes)
    assert message in exc.value.message


def test_update_project_needs_project_admin(db, project, member):
    writer = member("writer")
    with pytest.raises(Forbidden):
        service.update_project(db, project_id=project.id, actor=writer, changes={"max_depth": 4})


def test_project_admin_of_another_project_cannot_touch_this_one(db, project, site_admin, make_user):
    other_admin = make_user()
    other = accounts.create_project(db, name="Other", actor=site_admin)
    accounts.set_member(db, project=other, user=other_admin, role="admin", actor=site_admin)
    with pytest.raises(NotFound):
        service.update_project(db, project_id=project.id, actor=other_admin, changes={"max_depth": 4})


def test_members_keep_one_admin(db, project, site_admin, member):
    admin = member("admin")
    # The site admin created the project and is its first admin: two admins now.
    accounts.set_member_role(db, project=project, user_id=site_admin.id, role="writer", actor=admin)
    with pytest.raises(Conflict):
        accounts.set_member_role(db, project=project, user_id=admin.id, role="annotator", actor=admin)
    with pytest.raises(Conflict):
        accounts.remove_member(db, project=project, user_id=admin.id, actor=site_admin)
    db.flush()
    kinds = db.scalars(select(Event.kind).where(Event.project_id == project.id, Event.kind.like("member.%")).order_by(Event.id)).all()
    assert kinds == ["member.added", "member.role_changed"]


def test_add_member_by_email(db, project, site_admin, make_user):
    user = make_user("Someone@Example.com")
    membership = accounts.add_member_by_email(db, project=project, email=" someone@example.COM ", role="annotator",
                                              actor=site_admin)
    assert (membership.user_id, membership.role) == (user.id, "annotator")
    with pytest.raises(Conflict):
        accounts.add_member_by_email(db, project=project, email=user.email, role="writer", actor=site_admin)
    with pytest.raises(NotFound):
        accounts.add_member_by_email(db, project=project, email="nobody@example.com", role="writer", actor=site_admin)
    with pytest.raises(Invalid):
        accounts.add_member_by_email(db, project=project, email=make_user().email, role="owner", actor=site_admin)


def test_writer_cannot_manage_members(db, project, member, make_user):
    writer = member("writer")
    with pytest.raises(Forbidden):
        accounts.add_member_by_email(db, project=project, email=make_user().email, role="writer", actor=writer)


def test_create_project_needs_site_admin_and_valid_settings(db, site_admin, make_user):
    with pytest.raises(Forbidden):
        accounts.create_project(db, name="Mine", actor=make_user())
    with pytest.raises(Invalid):
        accounts.create_project(db, name="", actor=site_admin)
    project = accounts.create_project(db, name="  Fresh  ", actor=site_admin, description="d", max_depth=4)
    assert (project.name, project.description, project.max_depth) == ("Fresh", "d", 4)
    assert db.scalar(select(Membership.role).where(Membership.project_id == project.id,
                                                   Membership.user_id == site_admin.id)) == "admin"


def test_document_list_matches_access_rules(db, project, site_admin, member):
    """The SQL filter of the project page and access.can_see_document agree, shared or not."""
    writer, other, annotator = member("writer"), member("writer"), member("annotator")
    docs = [make_document(db, project, writer, "w1"), make_document(db, project, other, "o1"),
            make_document(db, project, site_admin, "a1")]
    for shared in (False, True):
        project.share_documents = shared
        db.flush()
        for user in (writer, other, annotator, site_admin):
            role = access.role_in(db, user, project.id)
            listed = {d.id for d in service.project_documents(db, project_id=project.id, user=user).documents}
            expected = {d.id for d in docs if access.can_see_document(user, d, role)}
            assert listed == expected, (shared, role)


def test_document_rows_carry_owner_depth_stop_reason_and_latest_run(db, project, member):
    writer = member("writer", name="Wren")
    document = make_document(db, project, writer, "Notes")
    make_run(db, document, "failed")
    make_run(db, document, "running")
    document.stop_reason = "max_depth"
    db.flush()
    [row] = service.project_documents(db, project_id=project.id, user=writer).documents
    assert (row.title, row.owner_name, row.depth, row.stop_reason, row.run_status) == \
        ("Notes", "Wren", 0, "max_depth", "running")


def test_archived_documents_are_not_listed(db, project, member):
    writer = member("writer")
    document = make_document(db, project, writer, "Gone")
    document.archived_at = document.created_at
    db.flush()
    assert service.project_documents(db, project_id=project.id, user=writer).documents == []


def test_document_list_pages(db, project, member):
    writer = member("writer")
    for i in range(5):
        make_document(db, project, writer, f"doc {i}")
    first = service.project_documents(db, project_id=project.id, user=writer, per_page=3)
    second = service.project_documents(db, project_id=project.id, user=writer, page=2, per_page=3)
    assert (len(first.documents), first.has_more, len(second.documents), second.has_more) == (3, True, 2, False)
    assert not {d.id for d in first.documents} & {d.id for d in second.documents}
    assert db.scalar(select(Document.id).where(Document.project_id == project.id).offset(5)) is None
