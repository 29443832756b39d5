"""Every route × every token scope: a token never does more than its scopes allow.

Walks the app's routes as they are (a new route is walked without touching this file): pages
refuse bearer tokens outright; each JSON route declares exactly one scope and answers 403 to a
token without it, before any service runs (no event is recorded).
"""
from __future__ import annotations

import re

import pytest
from fastapi import routing
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from app.models import TOKEN_SCOPES, Event
from tests.conftest import api_headers, login

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


class _Route:
    def __init__(self, path: str, route: APIRoute):
        self.path, self.dependant, self.methods = path, route.dependant, route.methods


def _routes(app):
    # FastAPI 0.16x keeps included routers nested; iter_route_contexts gives each route's full path.
    contexts = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else None
    pairs = ([(c.path, c.original_route) for c in contexts] if contexts is not None
             else [(r.path, r) for r in app.routes])
    for path, route in pairs:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield _Route(path, route), method


def _url(route) -> str:
    # Ids that exist in most test worlds; the scope check must answer before anything is looked up.
    return re.sub(r"\{[^}]+\}", "1", route.path)


def required_scopes(route) -> set[str]:
    found, stack = set(), [route.dependant]
    while stack:
        dependant = stack.pop()
        scope = getattr(dependant.call, "required_scope", None)
        if scope:
            found.add(scope)
        stack.extend(dependant.dependencies)
    return found


def _events(db) -> int:
    db.flush()
    return db.scalar(select(func.count()).select_from(Event))


def test_every_api_route_declares_one_scope(app):
    api = [(r, m) for r, m in _routes(app) if r.path.startswith("/api/")]
    assert len(api) > 20
    missing = [f"{m} {r.path}" for r, m in api if len(required_scopes(r)) != 1]
    assert missing == []
    # Pages never take a scope: they take no tokens at all.
    assert [r.path for r, _m in _routes(app) if not r.path.startswith("/api/") and required_scopes(r)] == []


def test_api_routes_refuse_every_scope_but_their_own(app, client, db, site_admin):
    headers = {scope: api_headers(db, site_admin, [scope]) for scope in TOKEN_SCOPES}
    walked = 0
    for route, method in _routes(app):
        if not route.path.startswith("/api/"):
            continue
        (needed,) = required_scopes(route)
        for scope in TOKEN_SCOPES:
            if scope == needed:
                continue
            before = _events(db)
            r = client.request(method, _url(route), headers=headers[scope], json={})
            assert r.status_code == 403, (method, route.path, scope, r.status_code, r.text)
            assert f"lacks the {needed!r} scope" in r.json()["detail"]
            assert _events(db) == before, (method, route.path, scope)
            walked += 1
    assert walked > 50


@pytest.mark.parametrize("scopes", [["read"], list(TOKEN_SCOPES)])
def test_pages_refuse_bearer_tokens(app, client, db, site_admin, scopes):
    headers = api_headers(db, site_admin, scopes)
    for route, method in _routes(app):
        if route.path.startswith("/api/"):
            continue
        before = _events(db)
        r = client.request(method, _url(route), headers={**headers, "accept": "application/json"},
                           data={"name": "x", "scopes": "admin", "email": "evil@example.com", "password": "p" * 12},
                           follow_redirects=False)
        assert r.status_code == 401, (method, route.path, r.status_code)
        assert "API tokens work on the JSON API" in r.json()["detail"]
        assert _events(db) == before, (method, route.path)


def test_read_token_cannot_mint_a_token_or_make_an_admin(client, db, site_admin):
    headers = api_headers(db, site_admin, ["read"])
    r = client.post("/account/tokens", data={"scopes": ["read", "write", "admin"]}, headers=headers)
    assert r.status_code == 401
    r = client.post("/admin/users", data={"email": "evil@example.com", "password": "p" * 12,
                                          "is_site_admin": "true"}, headers=headers)
    assert r.status_code == 401
    assert db.scalar(select(func.count()).select_from(Event).where(Event.kind.in_(["token.created", "user.created"])))\
        == 2  # site_admin's creation and the read token itself


def test_a_signed_in_page_still_works_with_a_cookie(client, site_admin):
    login(client, site_admin)
    assert client.get("/projects").status_code == 200
    assert client.post("/account/tokens", data={"scopes": ["read"]}).status_code == 200
