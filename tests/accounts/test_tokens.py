import hashlib
import re

from sqlalchemy import select

from app.models import ApiToken, Event
from tests.conftest import api_headers, login

HX = {"HX-Request": "true"}


def _new_secret(html: str) -> str:
    match = re.search(r'<pre class="mono" id="new-token">([^<]+)</pre>', html)
    assert match, html
    return match.group(1)


def test_token_secret_is_shown_once_and_stored_hashed(client, db, make_user):
    user = make_user()
    login(client, user)
    r = client.post("/account/tokens", data={"name": "export script", "scopes": ["read", "export"]}, headers=HX)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    secret = _new_secret(r.text)
    token = db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (token.prefix, token.name, token.token_hash) and secret.startswith(token.prefix)
    assert (token.name, token.scopes) == ("export script", ["read", "export"])
    listing = client.get("/account/tokens").text
    assert secret not in listing and f"{token.prefix}…" in listing and "export script" in listing
    # The secret works, once only shown, as a bearer token (with a fresh client: no cookies).
    client.cookies.clear()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["email"] == user.email
    assert me.json()["token_scopes"] == ["export", "read"]


def test_token_needs_a_scope(client, make_user):
    login(client, make_user())
    r = client.post("/account/tokens", data={"name": "none"}, headers=HX)
    assert r.status_code == 422 and "at least one scope" in r.text and r.headers["HX-Retarget"] == "#flash"
    r = client.post("/account/tokens", data={"name": "bad", "scopes": ["root"]}, headers=HX)
    assert r.status_code == 422 and "Unknown scope" in r.text


def test_revoke_token_from_page(client, db, make_user):
    user = make_user()
    headers = api_headers(db, user, ["read"])
    token = db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    login(client, user)
    r = client.post(f"/account/tokens/{token.id}/revoke", headers=HX)
    assert r.status_code == 200 and "revoked" in r.text
    db.refresh(token)
    assert token.revoked_at is not None
    db.flush()
    assert db.scalar(select(Event.id).where(Event.kind == "token.revoked", Event.subject_id == token.id))
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_cannot_revoke_someone_elses_token(client, db, make_user):
    owner, other = make_user(), make_user()
    api_headers(db, owner)
    token = db.scalars(select(ApiToken).where(ApiToken.user_id == owner.id)).one()
    login(client, other)
    assert client.post(f"/account/tokens/{token.id}/revoke", headers=HX).status_code == 404
    db.refresh(token)
    assert token.revoked_at is None
