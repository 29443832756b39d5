"""Who may do what. Services call these; templates and routes never decide access themselves.

Rules:
- a site admin may do anything;
- project members see the project; admins of a project manage it;
- a writer sees only their own documents, unless the project shares documents;
- annotators and project admins see every document and run of their project.
Anything a user may not see answers 404, so its existence does not leak.
"""
from __future__ import annotations

from sqlalchemy import false, literal, select, true
from sqlalchemy.orm import Session

from app.errors import Forbidden, NotFound
from app.models import Document, Membership, Project, User

ROLE_RANK = {"writer": 1, "annotator": 2, "admin": 3}


def role_in(session: Session, user: User, project_id: int) -> str | None:
    if user.is_site_admin:
        return "admin"
    return session.scalar(
        select(Membership.role).where(Membership.project_id == project_id, Membership.user_id == user.id)
    )


def require_project(session: Session, user: User, project_id: int, *, roles: tuple[str, ...] = ()) -> tuple[Project, str]:
    """The project and the user's role in it; NotFound for non-members, Forbidden for a wrong role."""
    project = session.get(Project, project_id)
    role = role_in(session, user, project_id) if project is not None else None
    if project is None or role is None:
        raise NotFound("No such project.")
    if roles and role not in roles:
        raise Forbidden(f"This needs the {' or '.join(roles)} role in {project.name}.")
    return project, role


def can_see_document(user: User, document: Document, role: str | None) -> bool:
    if role is None:
        return False
    if role in ("admin", "annotator") or document.owner_id == user.id:
        return True
    return bool(document.project.share_documents)


def document_visibility(user: User, project: Project, role: str | None):
    """can_see_document as a SQL condition on Document, for list queries (same rule)."""
    if role in ("admin", "annotator") or (role is not None and project.share_documents):
        return true()
    if role == "writer":
        return Document.owner_id == user.id
    return false()


def require_document(session: Session, user: User, document_id: int, *, write: bool = False) -> tuple[Document, str]:
    """The document if the user may see it (write=True: may revise it, i.e. owner or admin)."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound("No such document.")
    role = role_in(session, user, document.project_id)
    check_document(user, document, role, write=write)
    return document, role


def check_document(user: User, document: Document, role: str | None, *, write: bool = False) -> None:
    """require_document for callers that loaded the document and the role themselves (hot paths)."""
    if document.archived_at is not None or not can_see_document(user, document, role):
        raise NotFound("No such document.")
    if write and not (document.owner_id == user.id or role == "admin"):
        raise Forbidden("Only the document's writer or a project admin can change it.")


def member_role_column(user: User):
    """The user's role as a column to join into a query on projects (site admins are admins)."""
    if user.is_site_admin:
        return literal("admin")
    return (select(Membership.role).where(Membership.project_id == Project.id, Membership.user_id == user.id)
            .correlate(Project).scalar_subquery())


def nav_permissions(session: Session, user: User) -> dict[str, bool]:
    """Which site-wide pages the user's roles can use: queues (annotators and admins of some
    project) and exports (admins of some project, as the exports service requires)."""
    if user.is_site_admin:
        return {"can_annotate": True, "can_export": True}
    roles = set(session.scalars(select(Membership.role).where(Membership.user_id == user.id).distinct()))
    return {"can_annotate": bool(roles & {"annotator", "admin"}), "can_export": "admin" in roles}


def require_site_admin(user: User) -> None:
    if not user.is_site_admin:
        raise Forbidden("This needs a site admin.")
