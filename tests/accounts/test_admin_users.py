from sqlalchemy import func, select

from app.models import Event, User
from tests.conftest import PASSWORD, login

HX = {"HX-Request": "true"}


def test_users_page_is_for_site_admins(client, make_user):
    login(client, make_user())
    assert client.get("/admin/users").status_code == 403


def test_site_admin_creates_user_who_can_sign_in(client, db, site_admin):
    login(client, site_admin)
    r = client.post("/admin/users", data={"email": "New.Person@Example.com", "name": "New Person",
                                          "password": "long-enough-pw", "is_site_admin": "true"}, headers=HX)
    assert r.status_code == 200 and "Created new.person@example.com" in r.text and "<html" not in r.text
    user = db.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user.is_site_admin and user.name == "New Person"
    db.flush()
    event = db.scalars(select(Event).where(Event.kind == "user.created", Event.subject_id == user.id)).one()
    assert event.actor_id == site_admin.id
    client.cookies.clear()
    login(client, user, password="long-enough-pw")


def test_create_user_errors(client, site_admin):
    login(client, site_admin)
    r = client.post("/admin/users", data={"email": site_admin.email, "password": PASSWORD}, headers=HX)
    assert r.status_code == 409 and "exists already" in r.text
    r = client.post("/admin/users", data={"email": "x@example.com", "password": "short"}, headers=HX)
    assert r.status_code == 422 and "8 characters" in r.text


def test_deactivate_and_promote(client, db, site_admin, make_user):
    user = make_user()
    login(client, site_admin)
    r = client.post(f"/admin/users/{user.id}/flags", data={"is_active": "false"}, headers=HX)
    assert r.status_code == 200 and f'id="user-{user.id}"' in r.text and "inactive" in r.text
    r = client.post(f"/admin/users/{user.id}/flags", data={"is_site_admin": "true"}, headers=HX)
    assert "site admin" in r.text
    db.refresh(user)
    assert (user.is_active, user.is_site_admin) == (False, True)
    db.flush()
    changes = db.scalars(select(Event.data).where(Event.kind == "user.updated", Event.subject_id == user.id)
                         .order_by(Event.id)).all()
    assert changes == [{"is_active": False}, {"is_site_admin": True}]
    # A deactivated user cannot sign in.
    client.cookies.clear()
    r = client.post("/login", data={"email": user.email, "password": PASSWORD},
                    headers={"x-csrftoken": client.cookies.get("csrftoken") or _csrf(client)})
    assert r.status_code == 401


def _csrf(client):
    client.get("/login")
    return client.cookies.get("csrftoken")


def test_admin_cannot_demote_self(client, site_admin):
    login(client, site_admin)
    r = client.post(f"/admin/users/{site_admin.id}/flags", data={"is_site_admin": "false"}, headers=HX)
    assert r.status_code == 422 and "yourself" in r.text


def test_users_page_paginates_by_100(client, db, site_admin):
    existing = db.scalar(select(func.count()).select_from(User))
    db.add_all(User(email=f"bulk{i}@example.com", password_hash="x") for i in range(150 - existing))
    db.flush()
    login(client, site_admin)
    first = client.get("/admin/users").text
    second = client.get("/admin/users?page=2").text
    assert first.count('<tr id="user-') == 100 and second.count('<tr id="user-') == 50
    assert "page 1 of 2" in first and 'href="/admin/users?page=2"' in first
