"""Request dependencies: the database session and the signed-in user (cookie or bearer token)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.accounts import access, service
from app.db import get_session, utcnow
from app.errors import EmendError, Forbidden
from app.models import User

# scope="function": commit (or roll back) as soon as the route returns, before the response
# is sent, so a page never says "saved" for something that is not committed.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


class LoginRequired(EmendError):
    status_code = 401


class TokenNotAccepted(EmendError):
    """A bearer token on an HTML route. Pages have no scope checks of their own (a `read` token
    could decide edits or mint a full token through them), so they take browser sessions only."""
    status_code = 401


API_PREFIX = "/api/"
SESSION_KEY = "sid"


def _bearer_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def refuse_tokens_on_pages(request: Request) -> None:
    """App-wide dependency (create_app): the one authorisation rule for tokens. A token carries
    scopes, and only the JSON API checks them; every other route refuses a token outright."""
    if _bearer_token(request) is not None and not request.url.path.startswith(API_PREFIX):
        raise TokenNotAccepted("API tokens work on the JSON API (/api/v1) only; pages need a browser sign-in.")


def _load_user(request: Request, session: Session) -> User | None:
    token = _bearer_token(request)
    if token is not None:
        found = service.user_for_token(session, token)
        if found is None:
            raise LoginRequired("Invalid or revoked API token.")
        user, token = found
        request.state.token_scopes = set(token.scopes)
        if token.last_used_at is None or (utcnow() - token.last_used_at).total_seconds() > 60:
            token.last_used_at = utcnow()  # written at most once a minute, off the hot path
        return user
    secret = request.session.get(SESSION_KEY) if "session" in request.scope else None
    if not isinstance(secret, str):
        return None
    user = service.user_for_session(session, secret)
    if user is None:  # signed out elsewhere, expired, or the user was deactivated
        request.session.clear()
        return None
    request.state.token_scopes = None  # a browser session has every scope its roles allow
    return user


@dataclass(frozen=True)
class SignedIn:
    """What the page frame shows of the user, copied at sign-in time: an error page is rendered
    after the request's session was rolled back and closed, when the ORM user can no longer load."""

    id: int
    display_name: str
    is_site_admin: bool
    # Which top-bar links the user's roles can use (access.nav_permissions); a link that would
    # answer 403 is not shown.
    can_annotate: bool = False
    can_export: bool = False


def optional_user(request: Request, session: DbSession) -> User | None:
    user = _load_user(request, session)
    request.state.user = user
    signed_in = None
    if user is not None:
        # Only whole pages draw the top bar: API calls and htmx fragments skip the roles query.
        fragment = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"
        frame = not request.url.path.startswith("/api/") and not fragment
        allowed = access.nav_permissions(session, user) if frame else {}
        signed_in = SignedIn(user.id, user.display_name, user.is_site_admin, **allowed)
    request.state.signed_in = signed_in
    return user


def current_user(request: Request, session: DbSession) -> User:
    user = optional_user(request, session)
    if user is None:
        raise LoginRequired("Please sign in.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def require_scope(request: Request, scope: str) -> None:
    """API tokens carry scopes; a browser session is limited by roles alone."""
    scopes = getattr(request.state, "token_scopes", None)
    if scopes is not None and scope not in scopes:
        raise Forbidden(f"This API token lacks the {scope!r} scope.")


# Declares bearer tokens in the OpenAPI spec (the Authorize button of /docs); the token itself
# is read in _load_user, which also accepts the browser's session cookie.
_bearer = HTTPBearer(auto_error=False, description="An API token from the API tokens page or `emend create-token`.")


def scoped(scope: str):
    """The signed-in user, refused with 403 when their API token lacks `scope`. Every JSON route
    takes one (tests/accounts/test_scope_walk.py walks them all with every scope)."""
    def dependency(request: Request, user: CurrentUser,
                   _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> User:
        require_scope(request, scope)
        return user
    dependency.required_scope = scope
    return Depends(dependency)
