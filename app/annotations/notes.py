"""Tags and a comment thread on queue items, and the guidance shown beside an item (the project's
guidelines, the queue's instructions). Every change is an event, like the other queue actions."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import access
from app.annotations.queues import require_queue
from app.db import utcnow
from app.documents.service import guidelines_for
from app.errors import Forbidden, Invalid, NotFound
from app.events import service as events
from app.models import Document, Project, Queue, QueueClaim, QueueItem, QueueItemComment, QueueItemTag, Run, User

MAX_TAG = 64
MAX_COMMENT = 5_000
MAX_TAGS_PER_ITEM = 30
_TAG_SPACES = re.compile(r"\s+")


@dataclass
class ItemAccess:
    queue: Queue
    item: QueueItem
    is_admin: bool
    claim: QueueClaim | None

    @property
    def sees_others(self) -> bool:
        """Blind queues hide others' comments until the annotator submitted the item."""
        return (not self.queue.blind) or self.is_admin or (self.claim is not None and self.claim.submitted_at is not None)


def require_item(session: Session, *, queue_id: int, item_id: int, user: User) -> ItemAccess:
    """Admins of the project reach every item of the queue; an annotator the items they claimed."""
    queue = require_queue(session, user, queue_id)
    item = session.get(QueueItem, item_id)
    if item is None or item.queue_id != queue.id:
        raise NotFound("No such item in this queue.")
    is_admin = access.role_in(session, user, queue.project_id) == "admin"
    claim = session.scalar(select(QueueClaim).where(QueueClaim.item_id == item.id, QueueClaim.user_id == user.id))
    if claim is None and not is_admin:
        raise Forbidden("Tags and comments are for items you have claimed.")
    return ItemAccess(queue=queue, item=item, is_admin=is_admin, claim=claim)


def _event(session: Session, kind: str, user: User, ctx: ItemAccess, data: dict) -> None:
    events.record(session, kind=kind, actor=user, subject=ctx.item, project_id=ctx.queue.project_id,
                  run_id=ctx.item.run_id, document_id=ctx.item.document_id,
                  data={"queue_id": ctx.queue.id, **data})


def add_tag(session: Session, *, queue_id: int, item_id: int, user: User, tag: str) -> QueueItemTag:
    ctx = require_item(session, queue_id=queue_id, item_id=item_id, user=user)
    tag = _TAG_SPACES.sub(" ", tag or "").strip()
    if not tag:
        raise Invalid("A tag needs some text.")
    if len(tag) > MAX_TAG:
        raise Invalid(f"A tag is at most {MAX_TAG} characters.")
    existing = session.scalar(select(QueueItemTag).where(QueueItemTag.item_id == item_id, QueueItemTag.tag == tag))
    if existing is not None:
        return existing  # tagging twice is not an error, and not a second event
    count = session.scalar(select(func.count(QueueItemTag.id)).where(QueueItemTag.item_id == item_id))
    if count >= MAX_TAGS_PER_ITEM:
        raise Invalid(f"An item takes at most {MAX_TAGS_PER_ITEM} tags.")
    row = QueueItemTag(item_id=item_id, tag=tag, user_id=user.id, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent request added the same tag first
        return session.scalar(select(QueueItemTag).where(QueueItemTag.item_id == item_id, QueueItemTag.tag == tag))
    _event(session, "queue.item_tagged", user, ctx, {"tag": tag, "tag_id": row.id})
    return row


def remove_tag(session: Session, *, queue_id: int, item_id: int, user: User, tag_id: int) -> None:
    ctx = require_item(session, queue_id=queue_id, item_id=item_id, user=user)
    row = session.get(QueueItemTag, tag_id)
    if row is None or row.item_id != item_id:
        raise NotFound("No such tag on this item.")
    tag = row.tag
    session.delete(row)
    session.flush()
    _event(session, "queue.item_untagged", user, ctx, {"tag": tag, "tag_id": tag_id})


def add_comment(session: Session, *, queue_id: int, item_id: int, user: User, body: str) -> QueueItemComment:
    ctx = require_item(session, queue_id=queue_id, item_id=item_id, user=user)
    body = (body or "").strip()
    if not body:
        raise Invalid("Write a comment first.")
    if len(body) > MAX_COMMENT:
        raise Invalid(f"A comment is at most {MAX_COMMENT:,} characters.")
    row = QueueItemComment(item_id=item_id, user_id=user.id, body=body, created_at=utcnow())
    session.add(row)
    session.flush()
    _event(session, "queue.item_commented", user, ctx, {"comment_id": row.id, "body": body})
    return row


def delete_comment(session: Session, *, queue_id: int, item_id: int, user: User, comment_id: int) -> None:
    """The author (or an admin) takes a comment back; it stays in the event log."""
    ctx = require_item(session, queue_id=queue_id, item_id=item_id, user=user)
    row = session.get(QueueItemComment, comment_id)
    if row is None or row.item_id != item_id or row.deleted_at is not None:
        raise NotFound("No such comment on this item.")
    if row.user_id != user.id and not ctx.is_admin:
        raise Forbidden("Only its author or an admin can delete a comment.")
    row.deleted_at = utcnow()
    session.flush()
    _event(session, "queue.item_comment_deleted", user, ctx, {"comment_id": row.id})


@dataclass
class ItemNotes:
    tags: list[QueueItemTag]
    comments: list[QueueItemComment]
    hidden_comments: int  # others' comments held back in blind mode


def item_notes(session: Session, *, ctx: ItemAccess, user: User) -> ItemNotes:
    tags = list(session.scalars(select(QueueItemTag).where(QueueItemTag.item_id == ctx.item.id)
                                .order_by(QueueItemTag.tag)))
    comments = list(session.scalars(select(QueueItemComment).where(
        QueueItemComment.item_id == ctx.item.id, QueueItemComment.deleted_at.is_(None))
        .order_by(QueueItemComment.id)))
    shown = comments if ctx.sees_others else [c for c in comments if c.user_id == user.id]
    return ItemNotes(tags=tags, comments=shown, hidden_comments=len(comments) - len(shown))


@dataclass
class Guidance:
    project_guidelines: str
    guidelines: list[str]  # saved guidelines, project-wide and of the item's document
    instructions: str

    @property
    def empty(self) -> bool:
        return not (self.project_guidelines.strip() or self.guidelines or self.instructions.strip())


def guidance(session: Session, *, queue: Queue, item: QueueItem) -> Guidance:
    project = session.get(Project, queue.project_id)
    document_id = item.document_id
    if document_id is None:
        document_id = session.scalar(select(Run.document_id).where(Run.id == item.run_id))
    texts = [g.text for g in guidelines_for(session, document=session.get(Document, document_id))]
    return Guidance(project_guidelines=project.guidelines or "", guidelines=texts,
                    instructions=queue.instructions or "")


def tag_counts(session: Session, *, queue: Queue) -> list[tuple[str, int]]:
    """The queue's tags with how many items carry each, most used first (the queue page)."""
    rows = session.execute(
        select(QueueItemTag.tag, func.count()).join(QueueItem, QueueItem.id == QueueItemTag.item_id)
        .where(QueueItem.queue_id == queue.id).group_by(QueueItemTag.tag)
        .order_by(func.count().desc(), QueueItemTag.tag).limit(100)).all()
    return [(tag, n) for tag, n in rows]
