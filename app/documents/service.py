"""Documents and their immutable versions."""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.config import get_settings
from app.db import utcnow
from app.errors import Invalid
from app.events import service as events
from app.models import Document, Run, User, Version


def clean_text(text: str) -> str:
    """Normalise line endings (offsets must mean the same everywhere) and check the size."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise Invalid("The document is empty. Paste or upload some text.")
    limit = get_settings().max_document_chars
    if len(text) > limit:
        raise Invalid(f"The document has {len(text):,} characters; the limit is {limit:,}. Split it into parts.")
    return text


def add_version(session: Session, *, document: Document, text: str, depth: int, actor: User | None,
                parent: Version | None = None, source_run: Run | None = None,
                restored_from: Version | None = None) -> Version:
    """Append a version and make it the document's current one."""
    number = (session.scalar(select(func.max(Version.number)).where(Version.document_id == document.id)) or 0) + 1
    version = Version(
        document_id=document.id, number=number, depth=depth, parent_id=parent.id if parent else None,
        source_run_id=source_run.id if source_run else None,
        restored_from_id=restored_from.id if restored_from else None,
        text=text, text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        created_by_id=actor.id if actor else None,
    )
    session.add(version)
    session.flush()
    document.current_version_id = version.id
    document.current_version = version
    document.updated_at = utcnow()
    return version


def create_document(session: Session, *, project_id: int, title: str, text: str, actor: User) -> Document:
    access.require_project(session, actor, project_id, roles=("writer", "admin"))
    text = clean_text(text)
    title = (title or "").strip() or text.strip().splitlines()[0][:80]
    document = Document(project_id=project_id, owner_id=actor.id, title=title[:300])
    session.add(document)
    session.flush()
    version = add_version(session, document=document, text=text, depth=0, actor=actor)
    events.record(session, kind="document.created", actor=actor, subject=document,
                  data={"version_id": version.id, "chars": len(text), "title": document.title})
    return document
