"""Server-side sessions: a cookie stops working the moment its session is ended; safe redirects."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.accounts.pages import _safe_next
from tests.conftest import PASSWORD, csrf_token, events_of, login


def _copy(client: TestClient, app) -> TestClient:
    other = TestClient(app, base_url="http://testserver")
    other.cookies.update(client.cookies)
    other.headers["x-csrftoken"] = client.headers["x-csrftoken"]
    return other


def test_cookie_replayed_after_logout_is_signed_out(app, client, site_admin):
    login(client, site_admin)
    replay = _copy(client, app)
    assert replay.get("/projects", follow_redirects=False).status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 303
    r = replay.get("/projects", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_logout_ends_only_that_session(app, make_user):
    user = make_user()
    first, second = TestClient(app, base_url="http://testserver"), TestClient(app, base_url="http://testserver")
    login(first, user)
    login(second, user)
    first.post("/logout")
    assert second.get("/projects", follow_redirects=False).status_code == 200


def test_password_change_ends_every_other_session(app, db, make_user):
    user = make_user()
    laptop, phone = TestClient(app, base_url="http://testserver"), TestClient(app, base_url="http://testserver")
    login(laptop, user)
    login(phone, user)
    r = laptop.post("/account/password", data={"current_password": "wrong", "new_password": "another-pass-1"})
    assert r.status_code == 422 and "current password is not right" in r.text
    assert phone.get("/projects", follow_redirects=False).status_code == 200
    r = laptop.post("/account/password", data={"current_password": PASSWORD, "new_password": "another-pass-1"})
    assert r.status_code == 200 and "Password changed" in r.text
    assert phone.get("/projects", follow_redirects=False).status_code == 303
    laptop.headers["x-csrftoken"] = csrf_token(laptop)
    assert laptop.get("/projects", follow_redirects=False).status_code == 200  # goes on, with a new secret
    assert events_of(db, "auth.sessions_ended")[-1].data == {"sessions": 2, "reason": "password changed"}


def test_admin_signs_a_user_out_everywhere(app, client, db, site_admin, make_user):
    user = make_user()
    theirs = TestClient(app, base_url="http://testserver")
    login(theirs, user)
    login(client, site_admin)
    r = client.post(f"/admin/users/{user.id}/sessions/end", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "1 session(s) ended" in r.text
    assert theirs.get("/projects", follow_redirects=False).status_code == 303
    assert client.get("/projects", follow_redirects=False).status_code == 200


def test_only_site_admins_end_other_peoples_sessions(app, client, make_user):
    user, other = make_user(), make_user()
    login(client, user)
    assert client.post(f"/admin/users/{other.id}/sessions/end").status_code == 403


def test_sign_out_everywhere_from_the_account_page(app, client, make_user):
    user = make_user()
    login(client, user)
    replay = _copy(client, app)
    assert "1 browser session" in client.get("/account").text
    r = client.post("/account/sessions/end", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert replay.get("/projects", follow_redirects=False).status_code == 303


def test_deactivating_a_user_ends_their_sessions(app, client, site_admin, make_user):
    user = make_user()
    theirs = TestClient(app, base_url="http://testserver")
    login(theirs, user)
    login(client, site_admin)
    client.post(f"/admin/users/{user.id}/flags", data={"is_active": "false"})
    client.post(f"/admin/users/{user.id}/flags", data={"is_active": "true"})
    assert theirs.get("/projects", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", [
    "//evil.example/", "/\\evil.example/phish", "/%5Cevil.example/phish", "/%5cevil.example", "/%2F/evil.example",
    "/%252F%252Fevil.example", "https://evil.example", "/\t/evil.example", "/\n/evil.example", "\\\\evil.example",
    "javascript:alert(1)", "/%09/evil.example", "http:/evil.example", "", "evil.example",
])
def test_unsafe_next_targets_go_home(target):
    assert _safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/projects", "/documents/3?tab=history#v2", "/runs/1/trace"])
def test_local_next_targets_are_kept(target):
    assert _safe_next(target) == target


def test_htmx_login_never_redirects_off_site(client, site_admin):
    r = client.post("/login", data={"email": site_admin.email, "password": PASSWORD,
                                    "next": "/\\evil.example/phish"},
                    headers={"x-csrftoken": csrf_token(client), "HX-Request": "true"})
    assert r.status_code == 200 and r.headers["HX-Redirect"] == "/"
