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

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.models import Annotation, Edit, Event, Queue, QueueClaim, QueueItem, Run, User


@dataclass
class Work:
    """One annotator's (or a whole queue's) work: counts and the figures made from them."""

    items_done: int = 0
    seconds_spent: float = 0.0
    median_seconds: float | None = None
    labels: int = 0
    changed_after_seeing: int = 0  # labels on blind items saved again after the annotator submitted
    kappas: list[tuple[float, int]] = field(default_factory=list)  # (κ with another annotator, units shared)
    alpha: float | None = None

    def set_times(self, done: int, spent: float, median: float | None) -> None:
        self.items_done, self.seconds_spent, self.median_seconds = done, spent, median

    @property
    def items_per_hour(self) -> float | None:
        return self.items_done / (self.seconds_spent / 3600) if self.seconds_spent > 0 else None

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


def _seconds(session: Session, later, earlier):
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _item_times(session: Session, project_id: int):
    """Per claimed and submitted item: (user, queue, seconds from claim to submission), as a
    subquery over the claim and submit events."""
    claimed = func.min(case((Event.kind == "queue.item_claimed", Event.created_at)))
    submitted = func.max(case((Event.kind == "queue.item_submitted", Event.created_at)))
    per_item = (select(Event.actor_id.label("user_id"), QueueItem.queue_id.label("queue_id"),
                       claimed.label("claimed"), submitted.label("submitted"))
                .join(QueueItem, QueueItem.id == Event.subject_id)
                .where(Event.kind.in_(("queue.item_claimed", "queue.item_submitted")),
                       Event.subject_kind == "queue_item", Event.project_id == project_id,
                       Event.actor_id.is_not(None))
                .group_by(Event.actor_id, QueueItem.queue_id, Event.subject_id).subquery())
    return (select(per_item.c.user_id, per_item.c.queue_id,
                   _seconds(session, per_item.c.submitted, per_item.c.claimed).label("seconds"))
            .where(per_item.c.submitted.is_not(None)).subquery())


def _time_stats(session: Session, project_id: int, *keys: str) -> dict[tuple, tuple[int, float, float | None]]:
    """(items done, seconds spent, median seconds) grouped by the named keys (user_id, queue_id).
    PostgreSQL takes the median in SQL; SQLite (small data) in Python."""
    t = _item_times(session, project_id)
    cols = [t.c[k] for k in keys]
    seconds = case((t.c.seconds >= 0, t.c.seconds))
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(select(*cols, func.count(), func.coalesce(func.sum(seconds), 0),
                                      func.percentile_cont(0.5).within_group(seconds.asc()))
                               .group_by(*cols)).all()
        return {tuple(r[:len(keys)]): (r[-3], float(r[-2]), None if r[-1] is None else float(r[-1])) for r in rows}
    out: dict[tuple, list] = defaultdict(list)
    done: dict[tuple, int] = defaultdict(int)
    for *key, sec in session.execute(select(*cols, t.c.seconds)):
        done[tuple(key)] += 1
        if sec is not None and sec >= 0:
            out[tuple(key)].append(float(sec))
    return {k: (n, sum(out[k]), statistics.median(out[k]) if out[k] else None) for k, n in done.items()}


# --- agreement in SQL: pair counts per queue, then κ and α from them ------------------------

LABELS = (-1, 0, 1)


def _pair_counts(session: Session, project_id: int):
    """Rows (queue, coder a, coder b, coders of the unit, label a, label b, count) over every
    ordered pair of different annotators who labelled the same step of a queue's item."""
    unit = (QueueItem.queue_id, Annotation.target_kind, Annotation.target_id, Annotation.step)
    labels = (select(QueueItem.queue_id.label("queue_id"), Annotation.user_id.label("user_id"),
                     Annotation.target_kind.label("kind"), Annotation.target_id.label("tid"),
                     Annotation.step.label("step"), Annotation.label.label("label"),
                     func.count().over(partition_by=unit).label("m"))
              .join(QueueItem, QueueItem.id == Annotation.queue_item_id)
              .join(Queue, Queue.id == QueueItem.queue_id)
              .where(Queue.project_id == project_id, Annotation.label.is_not(None), Annotation.source == "human")
              .subquery())
    a, b = labels.alias("a"), labels.alias("b")
    return session.execute(
        select(a.c.queue_id, a.c.user_id, b.c.user_id, a.c.m, a.c.label, b.c.label, func.count())
        .join(b, (a.c.queue_id == b.c.queue_id) & (a.c.kind == b.c.kind) & (a.c.tid == b.c.tid)
              & (a.c.step == b.c.step) & (a.c.user_id != b.c.user_id))
        .group_by(a.c.queue_id, a.c.user_id, b.c.user_id, a.c.m, a.c.label, b.c.label)).all()


def kappa_from_confusion(confusion: dict[tuple[int, int], int]) -> float | None:
    """Cohen's κ from the counts of (label a, label b) over the units two coders share."""
    n = sum(confusion.values())
    if n < 2:
        return None
    po = sum(c for (x, y), c in confusion.items() if x == y) / n
    pa = {v: sum(c for (x, _y), c in confusion.items() if x == v) / n for v in LABELS}
    pb = {v: sum(c for (_x, y), c in confusion.items() if y == v) / n for v in LABELS}
    pe = sum(pa[v] * pb[v] for v in LABELS)
    return None if pe >= 1 else round((po - pe) / (1 - pe), 4)


def alpha_from_coincidences(o: dict[tuple[int, int], float]) -> float | None:
    """Krippendorff's ordinal α from the coincidence matrix over the values -1, 0, +1."""
    n_c = {v: sum(w for (x, _y), w in o.items() if x == v) for v in LABELS}
    n = sum(n_c.values())
    if n <= 1:
        return None

    def delta2(c: int, k: int) -> float:
        lo, hi = min(c, k), max(c, k)
        return (sum(n_c[g] for g in LABELS if lo <= g <= hi) - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(w * delta2(c, k) for (c, k), w in o.items())
    expected = sum(n_c[c] * n_c[k] * delta2(c, k) for c in LABELS for k in LABELS) / (n - 1)
    return None if expected == 0 else round(1 - observed / expected, 4)


def _agreement(session: Session, project_id: int):
    """Per queue: α, and κ for each pair of annotators with the units they share."""
    confusion: dict[int, dict[tuple[int, int], dict]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    coincidence: dict[int, dict[tuple[int, int], float]] = defaultdict(lambda: defaultdict(float))
    for qid, ua, ub, m, la, lb, count in _pair_counts(session, project_id):
        coincidence[qid][(la, lb)] += count / (m - 1)
        if ua < ub:
            confusion[qid][(ua, ub)][(la, lb)] += count
    out = {}
    for qid in set(coincidence) | set(confusion):
        pairs = [(pair, kappa_from_confusion(c), sum(c.values())) for pair, c in confusion[qid].items()]
        out[qid] = (alpha_from_coincidences(coincidence[qid]), pairs)
    return out


def project_dashboards(session: Session, *, user: User, project_id: int) -> Dashboards:
    project, role = access.require_project(session, user, project_id)
    per_person = role == "admin"
    queues = list(session.scalars(select(Queue).where(Queue.project_id == project.id).order_by(Queue.id)))
    boards = {q.id: QueueBoard(queue=q, total=Work(), annotators=defaultdict(Work)) for q in queues}
    overall: dict[int, Work] = defaultdict(Work)

    def works(uid: int, qid: int):
        return boards[qid].total, boards[qid].annotators[uid], overall[uid]

    for (uid, qid), (done, spent, median) in _time_stats(session, project.id, "user_id", "queue_id").items():
        if qid in boards:
            boards[qid].annotators[uid].set_times(done, spent, median)
    for (qid,), (done, spent, median) in _time_stats(session, project.id, "queue_id").items():
        if qid in boards:
            boards[qid].total.set_times(done, spent, median)
    for (uid,), (done, spent, median) in _time_stats(session, project.id, "user_id").items():
        overall[uid].set_times(done, spent, median)

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

    for qid, (alpha, pairs) in _agreement(session, project.id).items():
        if qid not in boards:
            continue
        boards[qid].total.alpha = alpha
        for (ua, ub), kappa, units in pairs:
            if kappa is None:
                continue
            boards[qid].total.kappas.append((kappa, units))
            for uid in (ua, ub):
                boards[qid].annotators[uid].kappas.append((kappa, units))
                overall[uid].kappas.append((kappa, units))

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
