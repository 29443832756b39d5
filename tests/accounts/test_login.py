from sqlalchemy import select

from app.models import Event
from tests.conftest import PASSWORD, csrf_token, login


def test_login_sets_session_and_records_event(db, client, make_user):
    user = make_user()
    login(client, user)
    page = client.get("/projects", follow_redirects=False)
    assert page.status_code == 200
    kinds = db.scalars(select(Event.kind).where(Event.actor_id == user.id)).all()
    assert "auth.login" in kinds


def test_wrong_password_is_refused_and_logged(db, client, make_user):
    user = make_user()
    r = client.post("/login", data={"email": user.email, "password": "nope-nope"},
                    headers={"x-csrftoken": csrf_token(client)})
    assert r.status_code == 401
    assert "Wrong e-mail or password" in r.text
    assert db.scalar(select(Event.id).where(Event.kind == "auth.login_failed", Event.actor_id == user.id))


def test_login_without_csrf_token_is_refused(client, make_user):
    user = make_user()
    client.get("/login")
    r = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert r.status_code == 403


def test_logged_in_post_without_csrf_header_is_refused(client, make_user):
    login(client, make_user())
    del client.headers["x-csrftoken"]
    assert client.post("/logout").status_code == 403


def test_login_rate_limit(client, make_user):
    user = make_user()
    token = csrf_token(client)
    codes = [client.post("/login", data={"email": user.email, "password": "bad-password"},
                         headers={"x-csrftoken": token}).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    # Even the right password is refused while the limit holds.
    r = client.post("/login", data={"email": user.email, "password": PASSWORD}, headers={"x-csrftoken": token})
    assert r.status_code == 429


def test_pages_redirect_to_login_when_signed_out(client):
    r = client.get("/projects", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
