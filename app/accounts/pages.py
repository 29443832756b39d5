"""HTML routes: signing in and out, the site admin's users page, a user's API tokens."""
from __future__ import annotations

import re
import secrets
from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer

from app.accounts import service
from app.accounts.deps import SESSION_KEY, CurrentUser, DbSession, OptionalUser
from app.bounds import DbId
from app.config import get_settings
from app.errors import Forbidden, Invalid, TooMany
from app.models import TOKEN_SCOPES
from app.web import client_ip, is_htmx, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else "/": the login form must not be an open redirect.
    Browsers read `\\` as `/`, drop tabs and newlines and decode %-escapes, so the check runs on
    the target as a browser would read it, decoded until it no longer changes."""
    if not target or len(target) > 2000:
        return "/"
    seen = target
    for _ in range(4):
        decoded = unquote(seen)
        if decoded == seen:
            break
        seen = decoded
    seen = re.sub(r"[\x00-\x20\x7f]", "", seen).replace("\\", "/")
    parts = urlsplit(seen)
    if not seen.startswith("/") or seen.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return target


@router.get("/")
def home(user: OptionalUser):
    return RedirectResponse("/projects" if user else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, user: OptionalUser, next: str = "/"):
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "accounts/login.html", {"next": _safe_next(next)})


def _csrf_ok(request: Request) -> bool:
    """The middleware checks requests that carry a session; the login form has none yet, so it
    is checked here the same way (login CSRF would sign a victim into an attacker's account)."""
    serializer = URLSafeSerializer(get_settings().secret_key, "csrftoken")
    try:
        cookie = serializer.loads(request.cookies.get("csrftoken", ""))
        header = serializer.loads(request.headers.get("x-csrftoken", ""))
    except BadSignature:
        return False
    return secrets.compare_digest(cookie, header)


@router.post("/login")
def login(request: Request, session: DbSession, email: Annotated[str, Form()],
          password: Annotated[str, Form()], next: Annotated[str, Form()] = "/"):
    if not _csrf_ok(request):
        raise Forbidden("CSRF token verification failed. Reload the page and try again.")
    target = _safe_next(next)
    try:
        user = service.authenticate(session, email=email, password=password, ip=client_ip(request))
        error = None if user else "Wrong e-mail or password."
        status = 200 if user else 401
    except TooMany as exc:
        user, error, status = None, exc.message, 429
    if user is None:
        # Commit the failure event even though we answer with an error.
        return render(request, "accounts/login.html", {"error": error, "email": email, "next": target},
                      block="login_form", status_code=status)
    _sign_in(request, session, user)
    if request.headers.get("HX-Request"):
        # An XHR would follow a 303 silently; tell htmx to navigate instead.
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _sign_in(request: Request, session, user) -> None:
    request.session.clear()  # a new secret at every sign-in: no session fixation
    request.session[SESSION_KEY] = service.start_session(session, user=user)


@router.post("/logout")
def logout(request: Request, session: DbSession, user: CurrentUser):
    service.logout(session, user=user, ip=client_ip(request), session_secret=request.session.get(SESSION_KEY))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# --- a user's own account: password, sessions ------------------------------------------------

def _account(request: Request, session, user, *, notice: str | None = None, error: str | None = None,
             status_code: int = 200):
    return render(request, "accounts/account.html",
                  {"sessions": service.session_count(session, user=user), "notice": notice, "error": error},
                  block="account", status_code=status_code)


@router.get("/account")
def account_page(request: Request, session: DbSession, user: CurrentUser):
    return _account(request, session, user)


@router.post("/account/password")
def change_password(request: Request, session: DbSession, user: CurrentUser,
                    current_password: Annotated[str, Form()], new_password: Annotated[str, Form()]):
    try:
        service.set_password(session, user=user, password=new_password, actor=user,
                             current_password=current_password)
    except Invalid as exc:
        return _account(request, session, user, error=exc.message, status_code=422)
    _sign_in(request, session, user)  # every other session ended; this one goes on with a new secret
    return _account(request, session, user, notice="Password changed. Every other session was signed out.")


@router.post("/account/sessions/end")
def end_my_sessions(request: Request, session: DbSession, user: CurrentUser):
    service.end_all_sessions(session, user=user, actor=user)
    request.session.clear()
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": "/login"})
    return RedirectResponse("/login", status_code=303)


# --- site admin: users ------------------------------------------------------------------------

USERS_PER_PAGE = 100


def _users_context(session, user, page: int, notice: str | None = None) -> dict:
    users, total = service.list_users(session, actor=user, page=page, per_page=USERS_PER_PAGE)
    pages = max(1, -(-total // USERS_PER_PAGE))
    return {"users": users, "total": total, "page": page, "pages": pages, "notice": notice}


@router.get("/admin/users")
def users_page(request: Request, session: DbSession, user: CurrentUser, page: int = 1):
    return render(request, "admin/users.html", _users_context(session, user, max(page, 1)), block="users")


@router.post("/admin/users")
def create_user(request: Request, session: DbSession, user: CurrentUser, email: Annotated[str, Form()],
                password: Annotated[str, Form()], name: Annotated[str, Form()] = "",
                is_site_admin: Annotated[bool, Form()] = False):
    created = service.create_user(session, email=email, password=password, name=name,
                                  is_site_admin=is_site_admin, actor=user)
    if not is_htmx(request):
        return RedirectResponse("/admin/users", status_code=303)
    # Show the last page, where the new user is (users are listed oldest first).
    _users, total = service.list_users(session, actor=user, per_page=1)
    page = max(1, -(-total // USERS_PER_PAGE))
    return render(request, "admin/users.html", _users_context(session, user, page, notice=f"Created {created.email}."),
                  block="users")


@router.post("/admin/users/{user_id}/sessions/end")
def end_user_sessions(request: Request, user_id: DbId, session: DbSession, user: CurrentUser):
    target = service.get_user(session, user_id=user_id, actor=user)
    ended = service.end_all_sessions(session, user=target, actor=user)
    if target.id == user.id:
        request.session.clear()
    if not is_htmx(request):
        return RedirectResponse("/admin/users", status_code=303)
    return render(request, "admin/users.html", {"u": target, "row_notice": f"{ended} session(s) ended."},
                  block="user_row")


@router.post("/admin/users/{user_id}/flags")
def user_flags(request: Request, user_id: int, session: DbSession, user: CurrentUser,
               is_active: Annotated[bool | None, Form()] = None,
               is_site_admin: Annotated[bool | None, Form()] = None):
    target = service.get_user(session, user_id=user_id, actor=user)
    service.set_user_flags(session, user=target, actor=user, is_active=is_active, is_site_admin=is_site_admin)
    if not is_htmx(request):
        return RedirectResponse("/admin/users", status_code=303)
    return render(request, "admin/users.html", {"u": target}, block="user_row")


# --- API tokens ---------------------------------------------------------------------------

def _tokens(request: Request, session, user, *, notice: str | None = None, secret: str | None = None,
            status_code: int = 200):
    headers = {"Cache-Control": "no-store"} if secret else None  # the secret must not linger in caches
    return render(request, "accounts/tokens.html",
                  {"tokens": service.list_tokens(session, user), "scopes": TOKEN_SCOPES, "notice": notice,
                   "secret": secret}, block="tokens", status_code=status_code, headers=headers)


@router.get("/account/tokens")
def tokens_page(request: Request, session: DbSession, user: CurrentUser):
    return _tokens(request, session, user)


@router.post("/account/tokens")
def create_token(request: Request, session: DbSession, user: CurrentUser, name: Annotated[str, Form()] = "",
                 scopes: Annotated[list[str] | None, Form()] = None):
    # No box ticked is a mistake to report, not a request for the service's default scopes.
    token, secret = service.create_token(session, user=user, name=name, scopes=scopes or [])
    # Rendered, not redirected: this answer is the only time the secret is shown.
    return _tokens(request, session, user, secret=secret,
                   notice=f"Token {token.prefix}… created. Copy it now: it is not shown again.")


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, session: DbSession, user: CurrentUser):
    token = service.revoke_token(session, token_id=token_id, actor=user)
    if not is_htmx(request):
        return RedirectResponse("/account/tokens", status_code=303)
    return _tokens(request, session, user, notice=f"Token {token.prefix}… revoked.")
