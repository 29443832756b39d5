"""JSON API of the annotator workbench (token scope `annotate`); the same services as the pages."""
from __future__ import annotations

from fastapi import APIRouter

from app.accounts.deps import DbSession, scoped
from app.annotations import agreement, comparisons, corrections, keys, notes, queues, service
from app.annotations.schemas import (
    AnnotationIn,
    AnnotationOut,
    ComparisonIn,
    ComparisonOut,
    CorrectionIn,
    CorrectionOut,
    ItemCommentIn,
    ItemCommentOut,
    ItemNotesOut,
    NextItemOut,
    QueueAgreementOut,
    QueueItemOut,
    ShortcutsIn,
    ShortcutsOut,
    TagIn,
    TagOut,
)
from app.bounds import DbId
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


@router.post("/queues/{queue_id}/prefetch", response_model=NextItemOut)
def prefetch_item(queue_id: int, after: DbId, session: DbSession, user: User = scoped("annotate")):
    """Reserve the item after your current one (`after`) so it can be loaded before it is needed;
    it becomes current when you submit `after`. `item` is null when nothing is left, or when
    `after` is not your current item."""
    claim = queues.prefetch_item(session, queue_id=queue_id, user=user, after_item_id=after)
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


# --- tags and comments on queue items, shortcuts ------------------------------------------------

def _notes_out(session, user, queue_id: int, item_id: int) -> ItemNotesOut:
    found = notes.item_notes(session, ctx=notes.require_item(session, queue_id=queue_id, item_id=item_id, user=user),
                             user=user)
    return ItemNotesOut(tags=[TagOut.model_validate(t) for t in found.tags],
                        comments=[ItemCommentOut.model_validate(c) for c in found.comments],
                        hidden_comments=found.hidden_comments)


@router.get("/queues/{queue_id}/items/{item_id}/notes", response_model=ItemNotesOut)
def item_notes(queue_id: int, item_id: int, session: DbSession, user: User = scoped("annotate")):
    """The item's tags and the comments you may see (blind queues hold others' back until you submit)."""
    return _notes_out(session, user, queue_id, item_id)


@router.post("/queues/{queue_id}/items/{item_id}/tags", response_model=TagOut, status_code=201)
def add_tag(queue_id: int, item_id: int, body: TagIn, session: DbSession, user: User = scoped("annotate")):
    """Tag an item you claimed (admins: any item of the queue); tagging twice returns the same tag."""
    return notes.add_tag(session, queue_id=queue_id, item_id=item_id, user=user, tag=body.tag)


@router.delete("/queues/{queue_id}/items/{item_id}/tags/{tag_id}", status_code=204)
def remove_tag(queue_id: int, item_id: int, tag_id: int, session: DbSession, user: User = scoped("annotate")):
    notes.remove_tag(session, queue_id=queue_id, item_id=item_id, user=user, tag_id=tag_id)


@router.post("/queues/{queue_id}/items/{item_id}/comments", response_model=ItemCommentOut, status_code=201)
def add_comment(queue_id: int, item_id: int, body: ItemCommentIn, session: DbSession,
                user: User = scoped("annotate")):
    """Add to the item's comment thread."""
    return notes.add_comment(session, queue_id=queue_id, item_id=item_id, user=user, body=body.body)


@router.delete("/queues/{queue_id}/items/{item_id}/comments/{comment_id}", status_code=204)
def delete_comment(queue_id: int, item_id: int, comment_id: int, session: DbSession,
                   user: User = scoped("annotate")):
    """Take back your comment (admins: any); the event log keeps it."""
    notes.delete_comment(session, queue_id=queue_id, item_id=item_id, user=user, comment_id=comment_id)


@router.get("/me/shortcuts", response_model=ShortcutsOut)
def get_shortcuts(user: User = scoped("annotate")):
    """Your keyboard shortcuts on traces and queue items, and whether labelling moves on."""
    return keys.effective(user).as_json()


@router.put("/me/shortcuts", response_model=ShortcutsOut)
def put_shortcuts(body: ShortcutsIn, session: DbSession, user: User = scoped("annotate")):
    """Set your shortcuts (422 with the reason if a key is bound twice or an action has none)."""
    wanted = {**keys.effective(user).keys, **body.keys}
    return keys.save(session, user=user, keys=wanted, advance=body.advance).as_json()
