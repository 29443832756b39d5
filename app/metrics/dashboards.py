"""Dashboards (issue 12): per annotator and per queue — items done per hour, median time per
item, agreement with the others (Cohen's κ, Krippendorff's α), share of labels changed after
seeing the others (blind queues) — and per model, acceptance over time.

Time on an item runs from its claim (event queue.item_claimed) to its submission (event
queue.item_submitted); both are read with the events' (kind, created_at) index, never a scan of
the whole log. Items per hour divide the items done by the hours so spent.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.annotations import agreement
from app.models import Annotation, Edit, Event, Queue, QueueClaim, QueueItem, Run, User


@dataclass
class Work:
    """One annotator's (or a whole queue's) work: counts and the figures made from them."""

    items_done: int = 0
    seconds: list[float] = field(default_factory=list)
    labels: int = 0
    changed_after_seeing: int = 0  # labels on blind items saved again after the annotator submitted
    kappas: list[tuple[float, int]] = field(default_factory=list)  # (κ with another annotator, units shared)
    alpha: float | None = None

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def items_per_hour(self) -> float | None:
        spent = sum(self.seconds)
        return len(self.seconds) / (spent / 3600) if spent > 0 else None

    @property
    def kappa(self) -> float | None:
        """κ with the others, weighted by the units each pair shares."""
        units = sum(n for _k, n in self.kappas)
        return round(sum(k * n for k, n in self.kappas) / units, 4) if units else None

    @property
    def changed_share(self) -> float | None:
        return self.changed_after_seeing / self.labels if self.labels else None

    def as_dict(self) -> dict:
        return {"items_done": self.items_done, "items_per_hour": self.items_per_hour,
                "median_seconds_per_item": self.median_seconds, "labels": self.labels,
                "changed_after_seeing_others": self.changed_after_seeing, "changed_share": self.changed_share,
                "kappa": self.kappa, "alpha": self.alpha}


@dataclass
class QueueBoard:
    queue: Queue
    total: Work
    annotators: dict[int, Work]


@dataclass
class Dashboards:
    project_id: int
    queues: list[QueueBoard]
    annotators: dict[int, Work]  # over all the project's queues
    names: dict[int, str]
    model_acceptance: dict[str, list[tuple[str, float | None, int]]]  # model -> (week, acceptance, decided)
    per_person: bool  # False: an annotator sees only their own row

    def as_dict(self) -> dict:
        return {
            "project_id": self.project_id,
            "annotators": [{"user_id": uid, "name": self.names.get(uid, str(uid)), **w.as_dict()}
                           for uid, w in self.annotators.items()],
            "queues": [{"queue_id": q.queue.id, "name": q.queue.name, "blind": q.queue.blind, **q.total.as_dict(),
                        "annotators": [{"user_id": uid, "name": self.names.get(uid, str(uid)), **w.as_dict()}
                                       for uid, w in q.annotators.items()]} for q in self.queues],
            "model_acceptance": {m: [{"week": w, "acceptance": a, "decided": n} for w, a, n in pts]
                                 for m, pts in self.model_acceptance.items()},
        }


def _week(session: Session, column):
    """The Monday that starts a timestamp's week (UTC), as SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.date_trunc("week", column))
    return func.date(column, "weekday 0", "-6 days")


def _as_day(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def model_acceptance(session: Session, project_id: int) -> dict[str, list[tuple[str, float | None, int]]]:
    """People's decisions per model and week: the share accepted as proposed (modified is not)."""
    week = _week(session, Edit.decided_at)
    rows = session.execute(
        select(Run.model, week, func.count(), func.sum(case((Edit.status == "accepted", 1), else_=0)))
        .select_from(Edit).join(Run, Run.id == Edit.run_id)
        .where(Run.project_id == project_id, Edit.decision_source == "human",
               Edit.status.in_(("accepted", "modified", "rejected")))
        .group_by(Run.model, week).order_by(Run.model, week)).all()
    out: dict[str, list] = defaultdict(list)
    for model, wk, decided, accepted in rows:
        out[model].append((_as_day(wk), (accepted or 0) / decided if decided else None, decided))
    return dict(out)


def _times(session: Session, project_id: int) -> list[tuple[int, int, datetime | None, datetime | None]]:
    """(user, queue, first claim, submission) per claimed item, from the claim and submit events."""
    claimed = func.min(case((Event.kind == "queue.item_claimed", Event.created_at)))
    submitted = func.max(case((Event.kind == "queue.item_submitted", Event.created_at)))
    return session.execute(
        select(Event.actor_id, QueueItem.queue_id, claimed, submitted)
        .join(QueueItem, QueueItem.id == Event.subject_id)
        .where(Event.kind.in_(("queue.item_claimed", "queue.item_submitted")), Event.subject_kind == "queue_item",
               Event.project_id == project_id)
        .group_by(Event.actor_id, QueueItem.queue_id, Event.subject_id)).all()


def project_dashboards(session: Session, *, user: User, project_id: int) -> Dashboards:
    project, role = access.require_project(session, user, project_id)
    per_person = role == "admin"
    queues = list(session.scalars(select(Queue).where(Queue.project_id == project.id).order_by(Queue.id)))
    boards = {q.id: QueueBoard(queue=q, total=Work(), annotators=defaultdict(Work)) for q in queues}
    overall: dict[int, Work] = defaultdict(Work)

    def works(uid: int, qid: int):
        return boards[qid].total, boards[qid].annotators[uid], overall[uid]

    for uid, qid, claimed, submitted in _times(session, project.id):
        if uid is None or qid not in boards or submitted is None:
            continue
        for w in works(uid, qid):
            w.items_done += 1
            if claimed is not None and submitted >= claimed:
                w.seconds.append((submitted - claimed).total_seconds())

    # Labels given in the queues, and those saved again after their author submitted the item
    # (in a blind queue that is after the others' labels were shown).
    changed = case((QueueClaim.submitted_at.is_not(None) & (Annotation.updated_at > QueueClaim.submitted_at)
                    & Queue.blind.is_(True), 1), else_=0)
    for uid, qid, labels, n_changed in session.execute(
            select(Annotation.user_id, QueueItem.queue_id, func.count(), func.sum(changed))
            .join(QueueItem, QueueItem.id == Annotation.queue_item_id)
            .join(Queue, Queue.id == QueueItem.queue_id)
            .outerjoin(QueueClaim, (QueueClaim.item_id == Annotation.queue_item_id)
                       & (QueueClaim.user_id == Annotation.user_id))
            .where(Queue.project_id == project.id, Annotation.source == "human")
            .group_by(Annotation.user_id, QueueItem.queue_id)):
        for w in works(uid, qid):
            w.labels += labels
            w.changed_after_seeing += int(n_changed or 0)

    for q in queues:
        result = agreement.queue_agreement(session, queue=q)["overall"]
        boards[q.id].total.alpha = result["alpha"]
        if result["kappa"] is not None:
            boards[q.id].total.kappas.append((result["kappa"], max(1, result["overlapping_units"])))
        for pair in result["pairs"]:
            if pair["kappa"] is None:
                continue
            for uid in pair["annotators"]:
                boards[q.id].annotators[uid].kappas.append((pair["kappa"], pair["units"]))
                overall[uid].kappas.append((pair["kappa"], pair["units"]))

    if not per_person:  # an annotator sees the totals and their own row only
        overall = {uid: w for uid, w in overall.items() if uid == user.id}
        for b in boards.values():
            b.annotators = {uid: w for uid, w in b.annotators.items() if uid == user.id}
    ids = set(overall) | {uid for b in boards.values() for uid in b.annotators}
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    names = {uid: n or f"user {uid}" for uid, n in names.items()}
    return Dashboards(project_id=project.id, queues=list(boards.values()),
                      annotators=dict(sorted(overall.items(), key=lambda kv: names.get(kv[0], "").lower())),
                      names=names, model_acceptance=model_acceptance(session, project.id), per_person=per_person)
