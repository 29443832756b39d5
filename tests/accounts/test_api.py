from sqlalchemy import select

from app.accounts import service as accounts
from app.models import ApiToken, Event
from tests.conftest import api_headers


def test_me_with_valid_token(client, db, make_user):
    user = make_user(name="Api User")
    r = client.get("/api/v1/me", headers=api_headers(db, user, ["read"]))
    assert r.status_code == 200
    assert r.json()["email"] == user.email and r.json()["name"] == "Api User"
    token = db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert token.last_used_at is not None


def test_missing_bad_and_revoked_tokens_get_401(client, db, make_user):
    user = make_user()
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer emd_not-a-token"}).status_code == 401
    token, secret = accounts.create_token(db, user=user, scopes=["read"])
    accounts.revoke_token(db, token_id=token.id, actor=user)
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_deactivated_users_token_stops_working(client, db, make_user, site_admin):
    user = make_user()
    headers = api_headers(db, user, ["read"])
    accounts.set_user_flags(db, user=user, actor=site_admin, is_active=False)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_token_created_event_keeps_no_secret(db, make_user):
    user = make_user()
    _token, secret = accounts.create_token(db, user=user, name="ci", scopes=["read"])
    db.flush()
    event = db.scalars(select(Event).where(Event.kind == "token.created", Event.actor_id == user.id)).one()
    assert secret not in str(event.data)
