"""Projects: the project page's document list and the project settings."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import access
from app.errors import Invalid
from app.events import service as events
from app.models import Document, Project, Run, User, Version
from app.projects.schemas import ProjectSettingsUpdate

PAGE_SIZE = 100


def validate_settings(changes: dict[str, Any]) -> dict[str, Any]:
    """The given settings, typed and checked; Invalid with every problem in one readable message."""
    try:
        parsed = ProjectSettingsUpdate.model_validate(changes)
    except ValidationError as exc:
        fields = ProjectSettingsUpdate.model_fields
        problems = []
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            label = fields[key].title if key in fields else (key or "Settings")
            message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
            if error["type"] == "string_pattern_mismatch":
                message = "must not contain spaces"
            problems.append(f"{label}: {message[:1].lower()}{message[1:]}")
        raise Invalid("; ".join(problems) + ".") from None
    return parsed.model_dump(exclude_unset=True)


def update_project(session: Session, *, project_id: int, actor: User, changes: dict[str, Any]) -> tuple[Project, list[str]]:
    """Apply the settings that differ (project admins only); one project.updated event lists them."""
    project, _role = access.require_project(session, actor, project_id, roles=("admin",))
    clean = validate_settings(changes)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for field, value in clean.items():
        # None from a PATCH means "not sent"; every column is NOT NULL.
        if value is None or getattr(project, field) == value:
            continue
        old[field], new[field] = getattr(project, field), value
        setattr(project, field, value)
    if new:
        events.record(session, kind="project.updated", actor=actor, subject=project,
                      data={"fields": sorted(new), "old": old, "new": new})
        session.flush()
    return project, sorted(new)


@dataclass(frozen=True)
class DocumentRow:
    id: int
    title: str
    owner_id: int
    owner_name: str
    depth: int | None
    stop_reason: str | None
    run_status: str | None
    updated_at: datetime


@dataclass(frozen=True)
class ProjectPage:
    project: Project
    role: str
    documents: list[DocumentRow]
    page: int
    has_more: bool


def project_documents(session: Session, *, project_id: int, user: User, page: int = 1,
                      per_page: int = PAGE_SIZE) -> ProjectPage:
    """The project (404 for non-members) and one page of the documents the user may see, newest first.

    One query: owner and current version are joins; the latest run's status is a correlated
    scalar subquery (served by ix_runs_document_id_created_at), which SQLite and PostgreSQL run alike.
    """
    project, role = access.require_project(session, user, project_id)
    page = max(page, 1)
    latest_status = (
        select(Run.status).where(Run.document_id == Document.id)
        .order_by(Run.created_at.desc(), Run.id.desc()).limit(1)
        .correlate(Document).scalar_subquery()
    )
    rows = session.execute(
        select(Document.id, Document.title, Document.owner_id, User.name, User.email, Version.depth,
               Document.stop_reason, latest_status.label("run_status"), Document.updated_at)
        .join(User, User.id == Document.owner_id)
        .outerjoin(Version, Version.id == Document.current_version_id)
        .where(Document.project_id == project.id, Document.archived_at.is_(None),
               access.document_visibility(user, project, role))
        .order_by(Document.updated_at.desc(), Document.id.desc())
        .limit(per_page + 1).offset((page - 1) * per_page)
    ).all()
    documents = [
        DocumentRow(id=r.id, title=r.title, owner_id=r.owner_id, owner_name=r.name or r.email, depth=r.depth,
                    stop_reason=r.stop_reason, run_status=r.run_status, updated_at=r.updated_at)
        for r in rows[:per_page]
    ]
    return ProjectPage(project=project, role=role, documents=documents, page=page, has_more=len(rows) > per_page)
