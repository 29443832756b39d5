"""Annotation queues: runs or documents, each given to at most `overlap` distinct annotators.

Claiming is safe under concurrency: on PostgreSQL the candidate item is locked with
`FOR UPDATE SKIP LOCKED` (concurrent callers pick different items instead of waiting), then
`active_claims` is raised by a conditional UPDATE that only succeeds below the overlap; the
unique (item_id, user_id) of queue_claims is the last guard. SQLite serialises writers.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import access
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.events import service as events
from app.models import (
    Annotation,
    Critique,
    Document,
    Edit,
    Membership,
    Queue,
    QueueAssignee,
    QueueClaim,
    QueueItem,
    Run,
    Stage,
    User,
    Version,
)

ANNOTATOR_ROLES = ("annotator", "admin")
MAX_ITEMS = 5_000


@dataclass
class QueueFilters:
    model: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    depth: int | None = None

    def as_json(self) -> dict:
        return {"model": self.model or None, "date_from": self.date_from.isoformat() if self.date_from else None,
                "date_to": self.date_to.isoformat() if self.date_to else None, "depth": self.depth}


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def _matching_runs(session: Session, project_id: int, f: QueueFilters) -> list[int]:
    query = (select(Run.id).join(Version, Version.id == Run.version_id)
             .join(Document, Document.id == Run.document_id)
             .where(Run.project_id == project_id, Run.status == "succeeded", Document.archived_at.is_(None)))
    if f.model:
        query = query.where(Run.model == f.model)
    if f.date_from:
        query = query.where(Run.created_at >= _day_start(f.date_from))
    if f.date_to:
        query = query.where(Run.created_at < _day_start(f.date_to + timedelta(days=1)))
    if f.depth is not None:
        query = query.where(Version.depth == f.depth)
    return list(session.scalars(query.order_by(Run.created_at, Run.id).limit(MAX_ITEMS)))


def _matching_documents(session: Session, project_id: int, f: QueueFilters) -> list[int]:
    query = (select(Document.id).join(Version, Version.id == Document.current_version_id)
             .where(Document.project_id == project_id, Document.archived_at.is_(None)))
    if f.model:
        query = query.where(select(Run.id).where(Run.document_id == Document.id, Run.model == f.model).exists())
    if f.date_from:
        query = query.where(Document.created_at >= _day_start(f.date_from))
    if f.date_to:
        query = query.where(Document.created_at < _day_start(f.date_to + timedelta(days=1)))
    if f.depth is not None:
        query = query.where(Version.depth == f.depth)
    return list(session.scalars(query.order_by(Document.created_at, Document.id).limit(MAX_ITEMS)))


def _require_annotators(session: Session, project_id: int, user_ids: list[int]) -> list[int]:
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return []
    ok = set(session.scalars(select(Membership.user_id).where(
        Membership.project_id == project_id, Membership.user_id.in_(user_ids),
        Membership.role.in_(ANNOTATOR_ROLES))))
    ok |= set(session.scalars(select(User.id).where(User.id.in_(user_ids), User.is_site_admin.is_(True))))
    missing = [uid for uid in user_ids if uid not in ok]
    if missing:
        raise Invalid("Only annotators or admins of the project can be assigned "
                      f"(user id {', '.join(map(str, missing))} is not).")
    return user_ids


def create_queue(session: Session, *, project_id: int, user: User, name: str, item_kind: str = "run",
                 overlap: int = 1, claim_timeout_seconds: int = 1800, blind: bool = True,
                 filters: QueueFilters | None = None, instructions: str = "",
                 assignee_ids: list[int] | None = None) -> Queue:
    """A queue of the project's runs (succeeded) or documents matching the filters."""
    access.require_project(session, user, project_id, roles=("admin",))
    name = (name or "").strip()
    if not name:
        raise Invalid("A queue needs a name.")
    if item_kind not in ("run", "document"):
        raise Invalid("A queue holds runs or documents.")
    if not 1 <= overlap <= 20:
        raise Invalid("Overlap (annotators per item) is between 1 and 20.")
    if not 60 <= claim_timeout_seconds <= 7 * 24 * 3600:
        raise Invalid("The claim timeout is between 1 minute and 7 days.")
    filters = filters or QueueFilters()
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise Invalid("The date range ends before it starts.")
    assignees = _require_annotators(session, project_id, assignee_ids or [])
    session.flush()  # sessions do not autoflush: make pending documents and versions visible to the query
    ids = (_matching_runs if item_kind == "run" else _matching_documents)(session, project_id, filters)
    if not ids:
        raise Invalid(f"No {item_kind}s of this project match the filters.")
    queue = Queue(project_id=project_id, name=name[:200], item_kind=item_kind, overlap=overlap,
                  claim_timeout_seconds=claim_timeout_seconds, blind=blind, filters=filters.as_json(),
                  instructions=(instructions or "").strip(), created_by_id=user.id)
    session.add(queue)
    session.flush()
    column = "run_id" if item_kind == "run" else "document_id"
    session.add_all([QueueItem(queue_id=queue.id, position=i, **{column: target_id}) for i, target_id in enumerate(ids)])
    session.add_all([QueueAssignee(queue_id=queue.id, user_id=uid) for uid in assignees])
    session.flush()
    session.expire(queue, ["items"])  # the items were added by id, not through the collection
    events.record(session, kind="queue.created", actor=user, subject=queue,
                  data={"name": queue.name, "item_kind": item_kind, "items": len(ids), "overlap": overlap,
                        "blind": blind, "filters": queue.filters, "assignees": assignees})
    return queue


def set_assignees(session: Session, *, queue_id: int, user: User, assignee_ids: list[int]) -> Queue:
    queue = require_queue(session, user, queue_id, manage=True)
    wanted = set(_require_annotators(session, queue.project_id, assignee_ids))
    current = {a.user_id: a for a in session.scalars(select(QueueAssignee).where(QueueAssignee.queue_id == queue.id))}
    for uid in wanted - current.keys():
        session.add(QueueAssignee(queue_id=queue.id, user_id=uid))
    for uid in current.keys() - wanted:
        session.delete(current[uid])
    session.flush()
    events.record(session, kind="queue.assigned", actor=user, subject=queue, data={"assignees": sorted(wanted)})
    return queue


def require_queue(session: Session, user: User, queue_id: int, *, manage: bool = False) -> Queue:
    """Admins of the project see and manage the queue; its assignees see it."""
    queue = session.get(Queue, queue_id)
    role = access.role_in(session, user, queue.project_id) if queue else None
    assigned = queue is not None and session.scalar(select(QueueAssignee.id).where(
        QueueAssignee.queue_id == queue.id, QueueAssignee.user_id == user.id)) is not None
    if queue is None or not (role == "admin" or (assigned and role in ANNOTATOR_ROLES)):
        raise NotFound("No such queue.")
    if manage and role != "admin":
        raise Forbidden("Only an admin of the project can change a queue.")
    return queue


def is_assignee(session: Session, queue: Queue, user: User) -> bool:
    return session.scalar(select(QueueAssignee.id).where(
        QueueAssignee.queue_id == queue.id, QueueAssignee.user_id == user.id)) is not None


def assignee_ids(session: Session, queue: Queue) -> set[int]:
    return set(session.scalars(select(QueueAssignee.user_id).where(QueueAssignee.queue_id == queue.id)))


def visible_queues(session: Session, user: User) -> list[tuple[Queue, bool]]:
    """Queues the user administers or is assigned to, with whether they are assigned."""
    assigned = set(session.scalars(select(QueueAssignee.queue_id).where(QueueAssignee.user_id == user.id)))
    query = select(Queue).order_by(Queue.id.desc())
    if not user.is_site_admin:
        admin_projects = select(Membership.project_id).where(Membership.user_id == user.id, Membership.role == "admin")
        annotator_projects = select(Membership.project_id).where(Membership.user_id == user.id,
                                                                 Membership.role.in_(ANNOTATOR_ROLES))
        query = query.where(Queue.project_id.in_(admin_projects)
                            | (Queue.id.in_(assigned or {-1}) & Queue.project_id.in_(annotator_projects)))
    return [(q, q.id in assigned) for q in session.scalars(query)]


# --- claims -------------------------------------------------------------------------------

def release_idle_claims(session: Session, *, queue: Queue) -> int:
    """Release claims left idle longer than the queue's timeout, so the item goes to others."""
    cutoff = utcnow() - timedelta(seconds=queue.claim_timeout_seconds)
    idle = list(session.scalars(
        select(QueueClaim).join(QueueItem, QueueItem.id == QueueClaim.item_id)
        .where(QueueItem.queue_id == queue.id, QueueClaim.submitted_at.is_(None),
               QueueClaim.released_at.is_(None), QueueClaim.claimed_at < cutoff)
        .with_for_update(of=QueueClaim, skip_locked=True)))
    for claim in idle:
        claim.released_at = utcnow()
        session.execute(update(QueueItem).where(QueueItem.id == claim.item_id, QueueItem.active_claims > 0)
                        .values(**_bump(queue, -1)))
        events.record(session, kind="queue.claim_released", subject=session.get(QueueItem, claim.item_id),
                      project_id=queue.project_id,
                      data={"queue_id": queue.id, "user_id": claim.user_id, "reason": "idle timeout"})
    if idle:
        session.flush()
    return len(idle)


def release_all_idle_claims(session: Session) -> int:
    """The periodic sweep (Celery beat): idle claims of every queue that has open claims."""
    queues = session.scalars(
        select(Queue).where(Queue.id.in_(
            select(QueueItem.queue_id).join(QueueClaim, QueueClaim.item_id == QueueItem.id)
            .where(QueueClaim.submitted_at.is_(None), QueueClaim.released_at.is_(None))))).all()
    return sum(release_idle_claims(session, queue=queue) for queue in queues)


def _bump(queue: Queue, delta: int) -> dict:
    """UPDATE values moving an item's active claims by `delta`, with has_room kept in step (both
    right-hand sides read the row's old value, on PostgreSQL and SQLite alike)."""
    return {"active_claims": QueueItem.active_claims + delta,
            "has_room": QueueItem.active_claims + delta < queue.overlap}


def _live_claims(session: Session, queue: Queue, user: User) -> list[QueueClaim]:
    """The user's open claims in the queue, oldest first: the current item, then at most one
    prefetched. (Served by the partial index of open claims, not the user's whole history.)"""
    return list(session.scalars(
        select(QueueClaim).join(QueueItem, QueueItem.id == QueueClaim.item_id)
        .where(QueueItem.queue_id == queue.id, QueueClaim.user_id == user.id,
               QueueClaim.submitted_at.is_(None), QueueClaim.released_at.is_(None))
        .order_by(QueueClaim.claimed_at, QueueClaim.id)))


def _live_claim(session: Session, queue: Queue, user: User) -> QueueClaim | None:
    live = _live_claims(session, queue, user)
    return live[0] if live else None


def _claim_item(session: Session, queue: Queue, item_id: int, user: User) -> QueueClaim | None:
    """Raise the item's active claims if it is below the overlap, then record the claim."""
    raised = session.execute(
        update(QueueItem).where(QueueItem.id == item_id, QueueItem.active_claims < queue.overlap)
        .values(**_bump(queue, 1)).execution_options(synchronize_session=False))
    if raised.rowcount != 1:
        return None
    claim = session.scalar(select(QueueClaim).where(QueueClaim.item_id == item_id, QueueClaim.user_id == user.id))
    if claim is not None and claim.released_at is None:
        # A concurrent request of the same user holds it already: do not count them twice.
        session.execute(update(QueueItem).where(QueueItem.id == item_id).values(**_bump(queue, -1)))
        return claim
    if claim is not None:  # the user's earlier claim was released as idle: take it up again
        claim.released_at = None
        claim.claimed_at = utcnow()
        session.flush()
        return claim
    claim = QueueClaim(item_id=item_id, user_id=user.id, claimed_at=utcnow())
    try:
        with session.begin_nested():
            session.add(claim)
    except IntegrityError:
        # A concurrent request of the same user claimed it first; the savepoint undid our row,
        # so undo our increment too.
        session.execute(update(QueueItem).where(QueueItem.id == item_id).values(**_bump(queue, -1)))
        return None
    return claim


def next_item(session: Session, *, queue_id: int, user: User) -> QueueClaim | None:
    """The user's current claim in the queue, or a new claim on the first item that fewer than
    `overlap` annotators hold and the user has not done; None when nothing is left."""
    queue = require_queue(session, user, queue_id)
    if not is_assignee(session, queue, user):
        raise Forbidden("You are not assigned to this queue.")
    release_idle_claims(session, queue=queue)
    current = _live_claim(session, queue, user)
    if current is not None:
        return current
    return _claim_next(session, queue, user)


def _claim_next(session: Session, queue: Queue, user: User) -> QueueClaim | None:
    done_or_held = select(QueueClaim.id).where(QueueClaim.item_id == QueueItem.id, QueueClaim.user_id == user.id,
                                               QueueClaim.released_at.is_(None))
    # The conditional UPDATE in _claim_item is the guard: it waits for a concurrent claim of the
    # same item to commit, then re-checks the overlap. Candidates are only read, never locked,
    # so annotators asking at the same moment do not skip items that still have room.
    candidates = session.scalars(
        select(QueueItem.id).where(QueueItem.queue_id == queue.id, QueueItem.has_room,
                                   ~done_or_held.exists())
        .order_by(QueueItem.position).limit(50)).all()
    for item_id in candidates:
        claim = _claim_item(session, queue, item_id, user)
        if claim is not None:
            item = session.get(QueueItem, item_id)
            session.refresh(item)
            events.record(session, kind="queue.item_claimed", actor=user, subject=item, project_id=queue.project_id,
                          run_id=item.run_id, document_id=item.document_id, data={"queue_id": queue.id})
            return claim
    return None


def prefetch_item(session: Session, *, queue_id: int, user: User, after_item_id: int) -> QueueClaim | None:
    """Reserve the item after the user's current one (`after_item_id`), so the browser can load it
    before it is needed. The reservation is a claim like any other: it counts against the overlap
    and the idle timeout releases it. A user holds at most one beyond the current item; asking
    again returns the same one. None when nothing is left, or when `after_item_id` is no longer
    the user's current item (the page is stale: it loads /next in full instead)."""
    queue = require_queue(session, user, queue_id)
    if not is_assignee(session, queue, user):
        raise Forbidden("You are not assigned to this queue.")
    release_idle_claims(session, queue=queue)
    live = _live_claims(session, queue, user)
    if not live or live[0].item_id != after_item_id:
        return None
    if len(live) > 1:
        return live[1]
    claim = _claim_next(session, queue, user)
    if claim is not None:
        # Oldest-first order decides which claim is current: keep the reservation after it even
        # when both were stamped in the same clock tick.
        claim.claimed_at = max(claim.claimed_at, live[0].claimed_at + timedelta(microseconds=1))
        session.flush()
    return claim


def take_up_prefetched(session: Session, *, queue_id: int, item_id: int, user: User) -> QueueClaim | None:
    """After a submit, make the prefetched item the current one: its claim counts as taken now
    (the idle clock restarts), and a reservation the sweep released meanwhile is taken back if
    the item still has room. None when it cannot be (the caller then shows /next in full)."""
    return _take_up(session, require_queue(session, user, queue_id), item_id, user)


def submit_and_take_up(session: Session, *, queue_id: int, item_id: int, user: User,
                       prefetched_item_id: int) -> QueueClaim | None:
    """Submit the current item and make the prefetched one current, in one go (the path that
    decides how soon the next item shows: one access check, no render). Returns the prefetched
    item's claim, or None when it cannot be taken up (the item itself is submitted either way)."""
    claim = submit_item(session, queue_id=queue_id, item_id=item_id, user=user)
    queue = session.get(Queue, queue_id)  # checked by submit_item, in the identity map
    return _take_up(session, queue, prefetched_item_id, user) if claim.submitted_at else None


def _take_up(session: Session, queue: Queue, item_id: int, user: User) -> QueueClaim | None:
    live = _live_claims(session, queue, user)
    if live:
        # The user's oldest open claim is the current item: only that one may be taken up.
        if live[0].item_id != item_id:
            return None
        claim = live[0]
    else:
        # Released by the idle sweep: take the place back if it is still free.
        claim = session.scalar(select(QueueClaim).join(QueueItem, QueueItem.id == QueueClaim.item_id).where(
            QueueClaim.item_id == item_id, QueueClaim.user_id == user.id, QueueItem.queue_id == queue.id,
            QueueClaim.submitted_at.is_(None), QueueClaim.released_at.is_not(None)))
        if claim is None:
            return None
        retaken = session.execute(
            update(QueueItem).where(QueueItem.id == item_id, QueueItem.active_claims < queue.overlap)
            .values(**_bump(queue, 1)).execution_options(synchronize_session=False))
        if retaken.rowcount != 1:
            return None
        claim.released_at = None
    claim.claimed_at = utcnow()
    session.flush()
    return claim


def require_claim(session: Session, *, queue_id: int, item_id: int, user: User) -> tuple[Queue, QueueItem, QueueClaim]:
    queue = require_queue(session, user, queue_id)
    item = session.get(QueueItem, item_id)
    claim = session.scalar(select(QueueClaim).where(QueueClaim.item_id == item_id, QueueClaim.user_id == user.id)) \
        if item is not None and item.queue_id == queue.id else None
    if claim is None:
        raise NotFound("You have not claimed that item.")
    return queue, item, claim


def submit_item(session: Session, *, queue_id: int, item_id: int, user: User) -> QueueClaim:
    """Mark the user's work on an item done; after this, blind mode shows them others' labels."""
    queue, item, claim = require_claim(session, queue_id=queue_id, item_id=item_id, user=user)
    if claim.submitted_at is not None:
        return claim
    session.flush()  # labels given in this transaction count
    mine = my_labels_on_item(session, item, user)
    labels = len(mine)
    if not labels:
        raise Invalid("Label or comment on at least one step of this item before submitting it.")
    # Labels given elsewhere (on the run's trace, before claiming) become this item's, so the
    # queue's agreement counts them; a label already made for another queue's item stays there.
    adopted = [a.id for a in mine if a.queue_item_id is None]
    if adopted:
        session.execute(update(Annotation).where(Annotation.id.in_(adopted), Annotation.queue_item_id.is_(None))
                        .values(queue_item_id=item.id).execution_options(synchronize_session="fetch"))
    if claim.released_at is not None:
        # Released as idle: take the place back if it is still free.
        retaken = session.execute(
            update(QueueItem).where(QueueItem.id == item.id, QueueItem.active_claims < queue.overlap)
            .values(**_bump(queue, 1)).execution_options(synchronize_session=False))
        if retaken.rowcount != 1:
            raise Conflict("Your claim on this item expired and it went to other annotators.")
        claim.released_at = None
    claim.submitted_at = utcnow()
    session.execute(update(QueueItem).where(QueueItem.id == item.id)
                    .values(submitted_count=QueueItem.submitted_count + 1).execution_options(synchronize_session=False))
    session.flush()
    session.expire(item, ["active_claims", "submitted_count", "has_room"])  # changed in SQL: reloaded if read
    events.record(session, kind="queue.item_submitted", actor=user, subject=item, project_id=queue.project_id,
                  run_id=item.run_id, document_id=item.document_id, data={"queue_id": queue.id, "labels": labels, "adopted_annotations": adopted})
    return claim


def my_labels_on_item(session: Session, item: QueueItem, user: User) -> list[Annotation]:
    """The user's annotations on the item's targets, wherever they gave them. Those saved with
    this queue_item_id are among them (save_annotation refuses an item that does not hold the
    target). One SELECT per kind of target, joined by UNION ALL: each is a look-up in the
    annotations' target index, where one OR over all kinds made PostgreSQL scan the user's (or
    every) annotation on each submit."""
    parts = [select(Annotation).where(Annotation.user_id == user.id, part) for part in item_target_parts(item)]
    return list(session.scalars(select(Annotation).from_statement(union_all(*parts))))


def item_targets_clause(item: QueueItem):
    """Annotations on the item's targets, wherever they were given: for a run, the run and its
    stages, critiques and edits; for a document, those of every run of it and its versions' steps."""
    return or_(*item_target_parts(item))


def item_target_parts(item: QueueItem) -> list:
    """item_targets_clause's terms, one per kind of target."""
    if item.run_id is not None:
        runs = select(Run.id).where(Run.id == item.run_id)
        versions = None
    else:
        runs = select(Run.id).where(Run.document_id == item.document_id)
        versions = select(Version.id).where(Version.document_id == item.document_id)
    parts = [
        and_(Annotation.target_kind == "run", Annotation.target_id.in_(runs)),
        and_(Annotation.target_kind == "stage", Annotation.target_id.in_(select(Stage.id).where(Stage.run_id.in_(runs)))),
        and_(Annotation.target_kind == "critique",
             Annotation.target_id.in_(select(Critique.id).where(Critique.run_id.in_(runs)))),
        and_(Annotation.target_kind == "edit", Annotation.target_id.in_(select(Edit.id).where(Edit.run_id.in_(runs)))),
    ]
    if versions is not None:
        parts.append(and_(Annotation.target_kind == "segment", Annotation.target_id.in_(versions)))
    return parts


# --- progress -----------------------------------------------------------------------------

@dataclass
class AnnotatorProgress:
    user: User
    claimed: int
    submitted: int
    released: int


@dataclass
class Progress:
    items: int
    complete: int
    submissions: int
    needed: int
    in_progress: int
    annotators: list[AnnotatorProgress]

    @property
    def percent(self) -> int:
        return round(100 * self.submissions / self.needed) if self.needed else 100


def progress(session: Session, *, queue: Queue) -> Progress:
    items, complete, submissions, live = session.execute(
        select(func.count(), func.coalesce(func.sum(case((QueueItem.submitted_count >= queue.overlap, 1), else_=0)), 0),
               func.coalesce(func.sum(QueueItem.submitted_count), 0),
               func.coalesce(func.sum(QueueItem.active_claims - QueueItem.submitted_count), 0))
        .where(QueueItem.queue_id == queue.id)).one()
    rows = session.execute(
        select(QueueClaim.user_id, func.count(),
               func.count(QueueClaim.submitted_at),
               func.count(QueueClaim.released_at))
        .join(QueueItem, QueueItem.id == QueueClaim.item_id).where(QueueItem.queue_id == queue.id)
        .group_by(QueueClaim.user_id)).all()
    assignee_ids = set(session.scalars(select(QueueAssignee.user_id).where(QueueAssignee.queue_id == queue.id)))
    counts = {uid: (total, submitted, released) for uid, total, submitted, released in rows}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(assignee_ids | counts.keys())))}
    annotators = []
    for uid in sorted(users, key=lambda i: users[i].display_name.lower()):
        total, submitted, released = counts.get(uid, (0, 0, 0))
        annotators.append(AnnotatorProgress(user=users[uid], claimed=total - submitted - released,
                                            submitted=submitted, released=released))
    return Progress(items=items, complete=int(complete), submissions=int(submissions),
                    needed=items * queue.overlap, in_progress=int(live), annotators=annotators)


def item_label(session: Session, item: QueueItem) -> str:
    if item.run_id is not None:
        run = session.get(Run, item.run_id)
        return f"Run {run.id} on “{run.document.title}”"
    document = session.get(Document, item.document_id)
    return f"Document “{document.title}”"


def project_annotators(session: Session, project_id: int) -> list[User]:
    return list(session.scalars(select(User).join(Membership, and_(Membership.user_id == User.id,
                                                                   Membership.project_id == project_id))
                                .where(Membership.role.in_(ANNOTATOR_ROLES), User.is_active.is_(True))
                                .order_by(User.email)))


def add_runs(session: Session, *, queue_id: int, user: User, run_ids: list[int]) -> tuple[int, dict[str, int]]:
    """Append runs to a run queue (search's "add all results to a queue"). Returns how many were
    added and, per reason, how many were skipped (already in the queue, another project, not
    finished)."""
    queue = require_queue(session, user, queue_id, manage=True)
    if queue.item_kind != "run":
        raise Invalid("That queue holds documents; choose a queue of runs.")
    wanted = sorted(set(run_ids))
    if len(wanted) > MAX_ITEMS:
        raise Invalid(f"At most {MAX_ITEMS:,} runs at once.")
    present = set(session.scalars(select(QueueItem.run_id).where(QueueItem.queue_id == queue.id,
                                                                 QueueItem.run_id.in_(wanted))))
    rows = dict(session.execute(select(Run.id, Run.project_id).where(Run.id.in_(wanted),
                                                                     Run.status == "succeeded")).all())
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    position = session.scalar(select(func.coalesce(func.max(QueueItem.position), -1))
                              .where(QueueItem.queue_id == queue.id)) + 1
    added = []
    for run_id in wanted:
        if run_id in present:
            skip("already in the queue")
        elif run_id not in rows:
            skip("run not finished")
        elif rows[run_id] != queue.project_id:
            skip("run of another project")
        else:
            added.append(QueueItem(queue_id=queue.id, position=position, run_id=run_id))
            position += 1
    session.add_all(added)
    session.flush()
    session.expire(queue, ["items"])
    events.record(session, kind="queue.items_added", actor=user, subject=queue,
                  data={"runs": [item.run_id for item in added], "skipped": skipped})
    return len(added), skipped


def manageable_run_queues(session: Session, user: User) -> list[Queue]:
    """Run queues the user may add items to (admin of the queue's project)."""
    return [q for q, _assigned in visible_queues(session, user)
            if q.item_kind == "run" and access.role_in(session, user, q.project_id) == "admin"]
