"""JSON routes for documents, versions and feedback (the same services as the pages)."""
from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from app.accounts import access
from app.accounts.deps import DbSession, scoped
from app.documents import service
from app.documents.schemas import (
    DocumentCreate,
    DocumentCreated,
    DocumentOut,
    FeedbackCreate,
    FeedbackOut,
    HandEditCreate,
    HandEditOut,
    ReviseCreate,
    ReviseOut,
    VersionOut,
    VersionSummary,
)
from app.flows import writer as writer_flow
from app.models import Guideline, User

router = APIRouter(prefix="/api/v1", tags=["documents"])


@router.post("/documents", response_model=DocumentCreated, status_code=201)
def create_document(body: DocumentCreate, session: DbSession, user: User = scoped("write")):
    document = service.create_document(session, project_id=body.project_id, title=body.title, text=body.text,
                                       actor=user)
    return DocumentCreated(id=document.id, version_id=document.current_version_id)


def _document_out(session, document) -> DocumentOut:
    run = service.latest_run(session, document_id=document.id)
    version = document.current_version
    return DocumentOut(id=document.id, project_id=document.project_id, owner_id=document.owner_id,
                       title=document.title, current_version_id=document.current_version_id, depth=version.depth,
                       auto_repeat=document.auto_repeat, stop_reason=document.stop_reason,
                       finished_at=document.finished_at,
                       latest_run_id=run.id if run else None, created_at=document.created_at,
                       updated_at=document.updated_at)


@router.get("/documents/{document_id}", response_model=DocumentOut)
def get_document(document_id: int, session: DbSession, user: User = scoped("read")):
    document, _role = access.require_document(session, user, document_id)
    return _document_out(session, document)


@router.post("/documents/{document_id}/hand-edits", response_model=HandEditOut, status_code=201)
def hand_edit(document_id: int, body: HandEditCreate, session: DbSession, user: User = scoped("write")):
    """The writer's own change to the current version, saved as a new version (409 when
    `base_version_id` is no longer current)."""
    base = service.get_version(session, version_id=body.base_version_id, user=user)
    start = 0 if body.start is None else body.start
    end = len(base.text) if body.end is None else body.end
    result = writer_flow.edit_by_hand(session, document_id=document_id, user=user,
                                      base_version_id=body.base_version_id, start=start, end=end, text=body.text)
    return HandEditOut(version_id=result.version.id, number=result.version.number,
                       edit_ids=[e.id for e in result.edits], carried_edit_ids=[e.id for e in result.carried],
                       superseded_edit_ids=[e.id for e in result.superseded],
                       carried_run_id=result.run.id if result.run else None)


@router.post("/documents/{document_id}/revise", response_model=ReviseOut, status_code=201)
def revise(document_id: int, body: ReviseCreate, session: DbSession, user: User = scoped("write")):
    run = service.revise_again(session, document_id=document_id, user=user, feedback=body.feedback,
                               save_as=body.save_as, override=body.override)
    return ReviseOut(run_id=run.id)


@router.post("/documents/{document_id}/finish", response_model=DocumentOut)
def finish(document_id: int, session: DbSession, user: User = scoped("write")):
    return _document_out(session, service.finish_document(session, document_id=document_id, user=user))


@router.post("/documents/{document_id}/reopen", response_model=DocumentOut)
def reopen(document_id: int, session: DbSession, user: User = scoped("write")):
    return _document_out(session, service.reopen_document(session, document_id=document_id, user=user))


@router.post("/critiques/{critique_id}/address", response_model=FeedbackOut, status_code=201)
def address_critique(critique_id: int, session: DbSession, user: User = scoped("write")):
    """Turn a critique into the writer's feedback for the next run."""
    feedback = service.address_critique(session, critique_id=critique_id, user=user)
    return FeedbackOut(id=feedback.id, document_id=feedback.document_id, run_id=feedback.run_id,
                       text=feedback.text, guideline_id=None)


@router.post("/critiques/{critique_id}/dismiss", status_code=204)
def dismiss_critique(critique_id: int, session: DbSession, user: User = scoped("write")):
    service.dismiss_critique(session, critique_id=critique_id, user=user)


@router.get("/documents/{document_id}/versions", response_model=list[VersionSummary])
def list_versions(document_id: int, session: DbSession, user: User = scoped("read")):
    _document, versions = service.list_versions(session, document_id=document_id, user=user)
    return versions


@router.get("/versions/{version_id}", response_model=VersionOut)
def get_version(version_id: int, session: DbSession, user: User = scoped("read")):
    return service.get_version(session, version_id=version_id, user=user)


@router.post("/versions/{version_id}/restore", response_model=VersionOut, status_code=201)
def restore_version(version_id: int, session: DbSession, user: User = scoped("write")):
    return service.restore_version(session, version_id=version_id, user=user)


@router.post("/documents/{document_id}/feedback", response_model=FeedbackOut, status_code=201)
def add_feedback(document_id: int, body: FeedbackCreate, session: DbSession, user: User = scoped("write")):
    feedback = service.add_feedback(session, document_id=document_id, run_id=body.run_id, text=body.text,
                                    user=user, save_as=body.save_as)
    guideline_id = None
    if body.save_as:
        guideline_id = session.scalar(select(Guideline.id).where(Guideline.feedback_id == feedback.id))
    return FeedbackOut(id=feedback.id, document_id=feedback.document_id, run_id=feedback.run_id,
                       text=feedback.text, guideline_id=guideline_id)
