"""Small builders for project tests: documents and runs made through the real services where they exist."""
from __future__ import annotations

from app.documents import service as documents
from app.models import Document, Run

TEXT = "The survey team arrived at the the river.\n\nThey measured the flow."


def make_document(db, project, owner, title: str) -> Document:
    return documents.create_document(db, project_id=project.id, title=title, text=TEXT, actor=owner)


def make_run(db, document: Document, status: str) -> Run:
    run = Run(project_id=document.project_id, document_id=document.id, version_id=document.current_version_id,
              model="emend/offline-reviser", status=status, created_by_id=document.owner_id)
    db.add(run)
    db.flush()
    return run
