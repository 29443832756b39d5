"""HTML routes for signing in and out."""
from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer

from app.accounts import service
from app.accounts.deps import CurrentUser, DbSession, OptionalUser
from app.config import get_settings
from app.errors import Forbidden, TooMany
from app.web import client_ip, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # Only local paths, so the login form cannot be used as an open redirect.
    if not target or not target.startswith("/") or target.startswith("//"):
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
    request.session.clear()
    request.session["uid"] = user.id
    if request.headers.get("HX-Request"):
        # An XHR would follow a 303 silently; tell htmx to navigate instead.
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, session: DbSession, user: CurrentUser):
    service.logout(session, user=user, ip=client_ip(request))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
