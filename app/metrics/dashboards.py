"""Dashboards (issue 12): per annotator and per queue — items done per hour, median time per
item, agreement with the others (Cohen's κ, Krippendorff's α), share of labels changed after
seeing the others (blind queues) — and per model, acceptance over time.

Time on an item runs from its claim (event queue.item_claimed) to its submission (event
queue.item_submitted): read from metric_item_times (one row per item and annotator, kept by a
trigger on events: app/metrics/rollups.py), never from the log itself. Items per hour divide the
items done by the hours so spent. Acceptance per model and week sums the decisions-per-day rollup.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import case, func, select, tuple_
from sqlalchemy.orm import Session

from app.accounts import access
from app.metrics.service import decision_days
from app.models import Annotation, Queue, QueueClaim, QueueItem, User
from app.models.metrics import MetricItemTime


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


def _as_day(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _monday(day) -> date:
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return day - timedelta(days=day.weekday())


def model_acceptance(session: Session, project_id: int) -> dict[str, list[tuple[str, float | None, int]]]:
    """People's decisions per model and week (from Monday, UTC): the share accepted as proposed
    (modified is not)."""
    weeks: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for _p, day, model, status, n in decision_days(session, project_id):
        if status in ("accepted", "modified", "rejected"):
            counts = weeks[(model, _monday(day))]
            counts[0] += n
            counts[1] += n if status == "accepted" else 0
    out: dict[str, list] = defaultdict(list)
    for (model, wk), (decided, accepted) in sorted(weeks.items()):
        out[model].append((_as_day(wk), accepted / decided if decided else None, decided))
    return dict(out)


def _seconds(session: Session, later, earlier):
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _item_times(session: Session, project_id: int):
    """Per claimed and submitted item: (user, queue, seconds from claim to submission)."""
    t = MetricItemTime
    return (select(t.user_id.label("user_id"), t.queue_id.label("queue_id"),
                   _seconds(session, t.submitted_at, t.claimed_at).label("seconds"))
            .where(t.project_id == project_id, t.submitted_at.is_not(None)).subquery())


GROUPINGS = (("user_id", "queue_id"), ("queue_id",), ("user_id",))


def _time_stats(session: Session, project_id: int) -> dict[tuple[str, ...], dict[tuple, tuple[int, float, float | None]]]:
    """Per grouping of GROUPINGS: (items done, seconds spent, median seconds) by its keys. One
    pass over the item times: PostgreSQL with GROUPING SETS (median in SQL), SQLite in Python."""
    t = _item_times(session, project_id)
    seconds = case((t.c.seconds >= 0, t.c.seconds))
    out: dict[tuple[str, ...], dict] = {g: {} for g in GROUPINGS}
    if session.get_bind().dialect.name == "postgresql":
        user, queue = t.c.user_id, t.c.queue_id
        sets = func.grouping_sets(tuple_(user, queue), tuple_(queue), tuple_(user))
        rows = session.execute(select(func.grouping(user, queue), user, queue, func.count(),
                                      func.coalesce(func.sum(seconds), 0),
                                      func.percentile_cont(0.5).within_group(seconds.asc())).group_by(sets)).all()
        for which, uid, qid, done, spent, median in rows:  # grouping(): a bit set per key left out
            grouping = {0: GROUPINGS[0], 2: GROUPINGS[1], 1: GROUPINGS[2]}[which]
            key = {"user_id": uid, "queue_id": qid}
            out[grouping][tuple(key[k] for k in grouping)] = (done, float(spent),
                                                              None if median is None else float(median))
        return out
    samples: dict[tuple, dict[tuple, list]] = {g: defaultdict(list) for g in GROUPINGS}
    done: dict[tuple, dict[tuple, int]] = {g: defaultdict(int) for g in GROUPINGS}
    for uid, qid, sec in session.execute(select(t.c.user_id, t.c.queue_id, t.c.seconds)):
        key = {"user_id": uid, "queue_id": qid}
        for g in GROUPINGS:
            k = tuple(key[c] for c in g)
            done[g][k] += 1
            if sec is not None and sec >= 0:
                samples[g][k].append(float(sec))
    for g in GROUPINGS:
        out[g] = {k: (n, sum(samples[g][k]), statistics.median(samples[g][k]) if samples[g][k] else None)
                  for k, n in done[g].items()}
    return out


# --- agreement in SQL: pair counts per queue, then κ and α from them ------------------------

LABELS = (-1, 0, 1)


def _pair_counts(session: Session, project_id: int):
    """Rows (queue, coder a, coder b, coders of the unit, label a, label b, count) over every
    ordered pair of different annotators who labelled the same step of a queue's item."""
    # One CTE of the labels (materialized: read once), the coders per unit by hash aggregate and
    # hash joins throughout; a window count over the unit sorted every label by its text key.
    labels = (select(QueueItem.queue_id.label("queue_id"), Annotation.user_id.label("user_id"),
                     Annotation.target_kind.label("kind"), Annotation.target_id.label("tid"),
                     Annotation.step.label("step"), Annotation.label.label("label"))
              .join(QueueItem, QueueItem.id == Annotation.queue_item_id)
              .join(Queue, Queue.id == QueueItem.queue_id)
              .where(Queue.project_id == project_id, Annotation.label.is_not(None), Annotation.source == "human")
              .cte("labels").prefix_with("MATERIALIZED", dialect="postgresql"))
    unit = (labels.c.queue_id, labels.c.kind, labels.c.tid, labels.c.step)
    units = select(*unit, func.count().label("m")).group_by(*unit).having(func.count() > 1).cte("units")
    a, b = labels.alias("a"), labels.alias("b")

    def same(x, y):
        return (x.c.queue_id == y.c.queue_id) & (x.c.kind == y.c.kind) & (x.c.tid == y.c.tid) & (x.c.step == y.c.step)

    return session.execute(
        select(a.c.queue_id, a.c.user_id, b.c.user_id, units.c.m, a.c.label, b.c.label, func.count())
        .select_from(a).join(units, same(a, units)).join(b, same(a, b) & (a.c.user_id != b.c.user_id))
        .group_by(a.c.queue_id, a.c.user_id, b.c.user_id, units.c.m, a.c.label, b.c.label)).all()


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

    stats = _time_stats(session, project.id)
    for (uid, qid), (done, spent, median) in stats[("user_id", "queue_id")].items():
        if qid in boards:
            boards[qid].annotators[uid].set_times(done, spent, median)
    for (qid,), (done, spent, median) in stats[("queue_id",)].items():
        if qid in boards:
            boards[qid].total.set_times(done, spent, median)
    for (uid,), (done, spent, median) in stats[("user_id",)].items():
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
