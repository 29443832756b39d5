"""Runs and edits inserted directly, so decisions can be tested without the pipeline."""
from __future__ import annotations

from app.documents import service as documents
from app.models import Edit, Run

TEXT = "Teh cat sat on the the mat. It was a very good cat in order to be happy."


def make_document(db, user, project, text: str = TEXT, title: str = "Notes"):
    return documents.create_document(db, project_id=project.id, title=title, text=text, actor=user)


def make_run(db, document, proposals, *, status: str = "succeeded", user=None) -> Run:
    """A finished run on the document's current version with one edit per (original, replacement[, intent])."""
    version = document.current_version
    run = Run(project_id=document.project_id, document_id=document.id, version_id=version.id,
              model="emend/offline-reviser", status=status, created_by_id=user.id if user else None)
    db.add(run)
    db.flush()
    cursor = 0
    for proposal in proposals:
        original, replacement, *rest = proposal
        start = version.text.index(original, cursor)
        cursor = start + len(original)
        db.add(Edit(run_id=run.id, version_id=version.id, start=start, end=cursor, original=original,
                    replacement=replacement, intent=rest[0] if rest else "fluency",
                    rationale=f"Fix {original!r}", confidence=0.9))
    db.flush()
    db.refresh(run)
    return run
