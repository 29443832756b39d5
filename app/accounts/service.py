"""Users, logins, project membership and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.config import get_settings
from app.db import utcnow
from app.errors import Conflict, Invalid, NotFound, TooMany
from app.events import service as events
from app.models import ROLES, TOKEN_SCOPES, ApiToken, Event, Membership, Project, User, UserSession
from app.projects.service import validate_settings

_hasher = PasswordHasher()
TOKEN_PREFIX = "emd_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise Invalid("Enter a valid e-mail address.")
    return email


def create_user(session: Session, *, email: str, password: str, name: str = "",
                is_site_admin: bool = False, actor: User | None = None) -> User:
    """A new user. With an actor (the admin pages), only a site admin may create one; the CLI
    and the demo seed pass no actor."""
    if actor is not None:
        access.require_site_admin(actor)
    email = _normal_email(email)
    if len(password) < 8:
        raise Invalid("A password needs at least 8 characters.")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"A user with the e-mail {email} exists already.")
    user = User(email=email, name=name.strip(), password_hash=hash_password(password), is_site_admin=is_site_admin)
    session.add(user)
    session.flush()
    events.record(session, kind="user.created", actor=actor or user, subject=user,
                  data={"email": email, "is_site_admin": is_site_admin})
    return user


def recent_login_failures(session: Session, *, email: str, ip: str | None) -> int:
    since = utcnow() - timedelta(seconds=get_settings().login_window_seconds)
    user_id = session.scalar(select(User.id).where(User.email == email.strip().lower()))
    who = Event.ip == ip if ip else None
    if user_id is not None:
        who = (Event.actor_id == user_id) if who is None else (who | (Event.actor_id == user_id))
    if who is None:
        return 0
    return session.scalar(
        select(func.count()).select_from(Event).where(
            Event.kind == "auth.login_failed", Event.created_at >= since, who
        )
    ) or 0


def authenticate(session: Session, *, email: str, password: str, ip: str | None) -> User | None:
    """The user, or None for a wrong e-mail or password. TooMany once the rate limit is hit.

    Failures are events, so the limit holds across processes and restarts.
    """
    settings = get_settings()
    if recent_login_failures(session, email=email, ip=ip) >= settings.login_max_failures:
        raise TooMany("Too many failed logins. Wait a few minutes and try again.")
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    ok = False
    if user is not None and user.is_active:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, InvalidHashError):
            ok = False
    if not ok:
        events.record(session, kind="auth.login_failed", actor=user, ip=ip,
                      data={"email": email.strip().lower()[:254]})
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    events.record(session, kind="auth.login", actor=user, subject=user, ip=ip)
    return user


def logout(session: Session, *, user: User, ip: str | None, session_secret: str | None = None) -> None:
    if session_secret:
        end_session(session, secret=session_secret)
    events.record(session, kind="auth.logout", actor=user, subject=user, ip=ip)


def set_password(session: Session, *, user: User, password: str, actor: User,
                 current_password: str | None = None) -> None:
    """A new password ends every browser session of the user (the caller signs the user in anew)."""
    if current_password is not None:
        try:
            _hasher.verify(user.password_hash, current_password)
        except (VerifyMismatchError, InvalidHashError):
            raise Invalid("Your current password is not right.") from None
    if len(password) < 8:
        raise Invalid("A password needs at least 8 characters.")
    user.password_hash = hash_password(password)
    events.record(session, kind="user.password_changed", actor=actor, subject=user)
    end_all_sessions(session, user=user, actor=actor, reason="password changed")


# --- browser sessions ----------------------------------------------------------------------
# The signed cookie holds only a random secret; the server keeps its hash. Deleting the row ends
# the session at once, even for a copy of the cookie replayed later.

SESSION_TOUCH_SECONDS = 60  # last_seen_at is written at most once a minute, off the hot path


def start_session(session: Session, *, user: User) -> str:
    secret = secrets.token_urlsafe(32)
    session.add(UserSession(id=_token_hash(secret), user_id=user.id, last_seen_at=utcnow()))
    session.flush()
    return secret


def user_for_session(session: Session, secret: str) -> User | None:
    """The session's user, or None when the session was ended, has expired or its user is inactive."""
    found = session.execute(select(UserSession, User).join(User, User.id == UserSession.user_id)
                            .where(UserSession.id == _token_hash(secret))).first()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if not user.is_active or (now - row.created_at).total_seconds() > get_settings().session_max_age:
        return None
    if row.last_seen_at is None or (now - row.last_seen_at).total_seconds() > SESSION_TOUCH_SECONDS:
        row.last_seen_at = now
    return user


def end_session(session: Session, *, secret: str) -> None:
    session.execute(delete(UserSession).where(UserSession.id == _token_hash(secret)))


def end_all_sessions(session: Session, *, user: User, actor: User, reason: str = "sign out everywhere") -> int:
    """Ends every browser session of `user` (the user themself or a site admin)."""
    if actor.id != user.id:
        access.require_site_admin(actor)
    ended = session.execute(delete(UserSession).where(UserSession.user_id == user.id)).rowcount or 0
    events.record(session, kind="auth.sessions_ended", actor=actor, subject=user,
                  data={"sessions": ended, "reason": reason})
    return ended


def session_count(session: Session, *, user: User) -> int:
    return session.scalar(select(func.count()).select_from(UserSession)
                          .where(UserSession.user_id == user.id)) or 0


def list_users(session: Session, *, actor: User, page: int = 1, per_page: int = 100) -> tuple[list[User], int]:
    """One page of users (site admins only), oldest first, and the number of users."""
    access.require_site_admin(actor)
    page = max(page, 1)
    total = session.scalar(select(func.count()).select_from(User)) or 0
    users = list(session.scalars(select(User).order_by(User.id).limit(per_page).offset((page - 1) * per_page)))
    return users, total


def get_user(session: Session, *, user_id: int, actor: User) -> User:
    access.require_site_admin(actor)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def set_user_flags(session: Session, *, user: User, actor: User, is_active: bool | None = None,
                   is_site_admin: bool | None = None) -> User:
    access.require_site_admin(actor)
    if user.id == actor.id and (is_active is False or is_site_admin is False):
        raise Invalid("You cannot deactivate or demote yourself.")
    changes = {}
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        changes["is_active"] = is_active
    if is_site_admin is not None and is_site_admin != user.is_site_admin:
        user.is_site_admin = is_site_admin
        changes["is_site_admin"] = is_site_admin
    if changes:
        events.record(session, kind="user.updated", actor=actor, subject=user, data=changes)
    if changes.get("is_active") is False:
        end_all_sessions(session, user=user, actor=actor, reason="deactivated")
    return user


# --- projects and members -------------------------------------------------------------

def create_project(session: Session, *, name: str, actor: User, **settings) -> Project:
    """A new project (site admins only) whose creator is its first admin; settings are checked
    by the same rules as the settings page."""
    access.require_site_admin(actor)
    clean = validate_settings({"name": name, **settings})
    clean = {key: value for key, value in clean.items() if value is not None}
    clean.setdefault("model", get_settings().default_model)
    project = Project(**clean)
    session.add(project)
    session.flush()
    session.add(Membership(project_id=project.id, user_id=actor.id, role="admin"))
    events.record(session, kind="project.created", actor=actor, subject=project, data={"name": project.name})
    session.flush()
    return project


def _admin_count(session: Session, project_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Membership).where(
        Membership.project_id == project_id, Membership.role == "admin")) or 0


def set_member(session: Session, *, project: Project, user: User, role: str, actor: User) -> Membership:
    """Add the user with the role, or change their role (project admins only)."""
    access.require_project(session, actor, project.id, roles=("admin",))
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    membership = session.scalar(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
    )
    data = {"user_id": user.id, "role": role}
    if membership is None:
        membership = Membership(project_id=project.id, user_id=user.id, role=role)
        session.add(membership)
        kind = "member.added"
    elif membership.role == role:
        return membership
    else:
        if membership.role == "admin" and _admin_count(session, project.id) <= 1:
            raise Conflict("A project keeps at least one admin. Make someone else admin first.")
        data["old_role"] = membership.role
        membership.role = role
        kind = "member.role_changed"
    session.flush()
    events.record(session, kind=kind, actor=actor, subject=membership, project_id=project.id, data=data)
    return membership


def add_member_by_email(session: Session, *, project: Project, email: str, role: str, actor: User) -> Membership:
    """Add an existing user, found by e-mail; Conflict if they are a member already."""
    access.require_project(session, actor, project.id, roles=("admin",))
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    email = _normal_email(email)
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        raise NotFound(f"No user has the e-mail {email}. A site admin can create the account first.")
    existing = session.scalar(select(Membership.role).where(
        Membership.project_id == project.id, Membership.user_id == user.id))
    if existing is not None:
        raise Conflict(f"{email} is a member already (as {existing}); change their role in the list.")
    return set_member(session, project=project, user=user, role=role, actor=actor)


def set_member_role(session: Session, *, project: Project, user_id: int, role: str, actor: User) -> Membership:
    """Change the role of an existing member."""
    access.require_project(session, actor, project.id, roles=("admin",))
    user = session.scalar(select(User).join(Membership, Membership.user_id == User.id).where(
        Membership.project_id == project.id, User.id == user_id))
    if user is None:
        raise NotFound("That user is not a member.")
    return set_member(session, project=project, user=user, role=role, actor=actor)


def project_members(session: Session, *, project_id: int, actor: User) -> tuple[Project, list[tuple[Membership, User]]]:
    """The project and its members with their users, in one query (project admins only)."""
    project, _role = access.require_project(session, actor, project_id, roles=("admin",))
    rows = session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.project_id == project_id).order_by(User.email)
    ).all()
    return project, [(m, u) for m, u in rows]


def remove_member(session: Session, *, project: Project, user_id: int, actor: User) -> None:
    access.require_project(session, actor, project.id, roles=("admin",))
    membership = session.scalar(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user_id)
    )
    if membership is None:
        raise NotFound("That user is not a member.")
    if membership.role == "admin" and _admin_count(session, project.id) <= 1:
        raise Conflict("A project keeps at least one admin.")
    events.record(session, kind="member.removed", actor=actor, project_id=project.id,
                  subject=membership, data={"user_id": user_id, "role": membership.role})
    session.delete(membership)


def user_projects(session: Session, user: User) -> list[tuple[Project, str]]:
    """The projects the user belongs to, with their role (site admins see all, as admin)."""
    if user.is_site_admin:
        rows = session.execute(
            select(Project, func.coalesce(Membership.role, "admin"))
            .outerjoin(Membership, (Membership.project_id == Project.id) & (Membership.user_id == user.id))
            .where(Project.archived_at.is_(None)).order_by(Project.name)
        ).all()
    else:
        rows = session.execute(
            select(Project, Membership.role).join(Membership, Membership.project_id == Project.id)
            .where(Membership.user_id == user.id, Project.archived_at.is_(None)).order_by(Project.name)
        ).all()
    return [(p, r) for p, r in rows]


# --- API tokens -------------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, user: User, name: str = "", scopes: list[str] | None = None,
                 actor: User | None = None) -> tuple[ApiToken, str]:
    """A new token and its secret, which is shown once and stored only as a hash."""
    # None means the default pair; an explicit empty choice is a mistake, not "read, write".
    scopes = ["read", "write"] if scopes is None else list(dict.fromkeys(scopes))
    if not scopes:
        raise Invalid("Choose at least one scope.")
    unknown = set(scopes) - set(TOKEN_SCOPES)
    if unknown:
        raise Invalid(f"Unknown scope(s): {', '.join(sorted(unknown))}; use {', '.join(TOKEN_SCOPES)}.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip()[:120], prefix=secret[:12],
                     token_hash=_token_hash(secret), scopes=scopes)
    session.add(token)
    session.flush()
    events.record(session, kind="token.created", actor=actor or user, subject=token,
                  data={"user_id": user.id, "scopes": scopes, "prefix": token.prefix})
    return token, secret


def user_for_token(session: Session, secret: str) -> tuple[User, ApiToken] | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(secret)))
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    return token.user, token


def revoke_token(session: Session, *, token_id: int, actor: User) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and not actor.is_site_admin):
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        events.record(session, kind="token.revoked", actor=actor, subject=token, data={"prefix": token.prefix})
    return token


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))
