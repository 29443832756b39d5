"""JSON API of the annotator workbench (token scope `annotate`); the same services as the pages."""
from __future__ import annotations

from fastapi import APIRouter

from app.accounts.deps import DbSession, scoped
from app.annotations import agreement, comparisons, corrections, queues, service
from app.annotations.schemas import (
    AnnotationIn,
    AnnotationOut,
    ComparisonIn,
    ComparisonOut,
    CorrectionIn,
    CorrectionOut,
    NextItemOut,
    QueueAgreementOut,
    QueueItemOut,
)
from app.errors import NotFound
from app.models import Document, QueueClaim, QueueItem, Stage, User

router = APIRouter(prefix="/api/v1", tags=["annotations"])


@router.post("/annotations", response_model=AnnotationOut)
def save_annotation(body: AnnotationIn, session: DbSession, user: User = scoped("annotate")):
    """Create or update your label on a run, stage, critique, edit or segment (one per target)."""
    annotation = service.save_annotation(
        session, user=user, target_kind=body.target_kind, target_id=body.target_id, step=body.step,
        label=body.label, comment=body.comment, correction=body.correction, queue_item_id=body.queue_item_id,
        stop_at_first_error=body.stop_at_first_error)
    return annotation


def _item_out(session, claim: QueueClaim) -> QueueItemOut:
    item = session.get(QueueItem, claim.item_id)
    version_id = session.get(Document, item.document_id).current_version_id if item.document_id else None
    return QueueItemOut(queue_id=item.queue_id, item_id=item.id, position=item.position, run_id=item.run_id,
                        document_id=item.document_id, version_id=version_id, claimed_at=claim.claimed_at,
                        submitted_at=claim.submitted_at, blind=item.queue.blind)


@router.get("/queues/{queue_id}/next", response_model=NextItemOut)
def next_item(queue_id: int, session: DbSession, user: User = scoped("annotate")):
    """Your current item in the queue, or a newly claimed one; `item` is null when none is left."""
    claim = queues.next_item(session, queue_id=queue_id, user=user)
    return NextItemOut(item=_item_out(session, claim) if claim else None)


@router.post("/queues/{queue_id}/items/{item_id}/submit", response_model=QueueItemOut)
def submit_item(queue_id: int, item_id: int, session: DbSession, user: User = scoped("annotate")):
    """Mark your work on a claimed item as done."""
    claim = queues.submit_item(session, queue_id=queue_id, item_id=item_id, user=user)
    return _item_out(session, claim)


@router.get("/queues/{queue_id}/agreement", response_model=QueueAgreementOut)
def queue_agreement(queue_id: int, session: DbSession, user: User = scoped("annotate")):
    """Cohen's κ and Krippendorff's α (ordinal) for the queue, overall and per target kind."""
    queue = queues.require_queue(session, user, queue_id)
    return agreement.queue_agreement(session, queue=queue)


@router.post("/stages/{stage_id}/correction", response_model=CorrectionOut, status_code=201)
def correct_stage(stage_id: int, body: CorrectionIn, session: DbSession, user: User = scoped("annotate")):
    """Replace a stage's parsed output (as parsed_output, or as rows) and re-run the stages after
    it in a new child run. Checked like the page's row editor: a refused correction answers 422
    with every problem by row."""
    value = body.parsed_output
    if body.rows is not None:
        stage = session.get(Stage, stage_id)
        if stage is None:
            raise NotFound("No such stage.")
        value = {corrections.row_schema(stage.name).key: body.rows}
    result = service.correct_stage(session, stage_id=stage_id, user=user, parsed_output=value,
                                   comment=body.comment)
    return CorrectionOut(annotation=AnnotationOut.model_validate(result.annotation), run_id=result.run.id,
                         parent_run_id=result.run.parent_run_id)


@router.post("/comparisons", response_model=ComparisonOut, status_code=201)
def make_comparison(body: ComparisonIn, session: DbSession, user: User = scoped("annotate")):
    """Pick the better of two runs' revisions of the same version (or a tie)."""
    return comparisons.make_comparison(session, version_id=body.version_id, run_a_id=body.run_a_id,
                                       run_b_id=body.run_b_id, user=user, choice=body.choice, reason=body.reason)
