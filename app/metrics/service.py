"""Project metrics (PRODUCT §5): acceptance by revision depth, intent, model and person, and with
or without the writer's feedback; runs, edits per run, where loops stop, time to decide, repeats
of rejected edits the filter dropped; runs and decisions per day. Aggregated in SQL: the
breakdowns come from one grouped scan of the project's edits.

"modified" is its own category everywhere: acceptance is the share accepted as proposed.

Only people's decisions count: a shadow-user prediction (decision_source "ai") is undecided
until a person confirms it, exactly as on the review page.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.db import utcnow
from app.models import Document, Edit, Project, Run, User, Version

TIME_TO_DECIDE_SAMPLE = 10_000  # the latest decisions the median is taken over


@dataclass
class Breakdown:
    """Decisions on the edits of one group (a depth, an intent, a model or a person)."""

    key: str
    accepted: int = 0
    modified: int = 0
    rejected: int = 0
    pending: int = 0

    @property
    def decided(self) -> int:
        return self.accepted + self.modified + self.rejected

    def _share(self, n: int) -> float | None:
        return n / self.decided if self.decided else None

    @property
    def acceptance(self) -> float | None:
        """Share of decided edits accepted as proposed; a modified edit is its own category
        (the person rewrote it), not an acceptance. None before any decision."""
        return self._share(self.accepted)

    @property
    def modification(self) -> float | None:
        return self._share(self.modified)

    @property
    def rejection(self) -> float | None:
        return self._share(self.rejected)

    def add(self, status: str, count: int) -> None:
        setattr(self, status, getattr(self, status) + count)

    def counts(self) -> dict[str, int]:
        return {"accepted": self.accepted, "modified": self.modified, "rejected": self.rejected}

    def as_dict(self) -> dict:
        return {"key": self.key, "accepted": self.accepted, "modified": self.modified, "rejected": self.rejected,
                "pending": self.pending, "decided": self.decided, "acceptance": self.acceptance,
                "modification": self.modification, "rejection": self.rejection}


@dataclass
class ProjectMetrics:
    project_id: int
    by_depth: list[Breakdown]
    by_intent: list[Breakdown]
    by_model: list[Breakdown]
    by_person: list[Breakdown] | None  # admins only
    by_feedback: list[Breakdown]  # runs started with the writer's feedback, and without
    runs_by_status: dict[str, int]
    edits_per_run: float | None
    loops: list[dict] = field(default_factory=list)  # per stop reason: documents, mean depth
    median_seconds_to_decide: float | None = None
    repeats_dropped: int = 0  # proposals the do-not-repeat filter removed (Feedback Friction)
    runs_over_time: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # per day, by status
    decisions_over_time: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # per day, by decision

    def as_dict(self) -> dict:
        return {
            "project_id": self.project_id,
            "acceptance_by_depth": [b.as_dict() for b in self.by_depth],
            "acceptance_by_intent": [b.as_dict() for b in self.by_intent],
            "acceptance_by_model": [b.as_dict() for b in self.by_model],
            "acceptance_by_person": None if self.by_person is None else [b.as_dict() for b in self.by_person],
            "acceptance_by_feedback": [b.as_dict() for b in self.by_feedback],
            "repeats_dropped": self.repeats_dropped,
            "runs_by_status": self.runs_by_status,
            "edits_per_run": self.edits_per_run,
            "loops": self.loops,
            "median_seconds_to_decide": self.median_seconds_to_decide,
            "runs_over_time": [{"day": d, **c} for d, c in self.runs_over_time],
            "decisions_over_time": [{"day": d, **c} for d, c in self.decisions_over_time],
        }


def day_of(column):
    """The UTC calendar day of a timestamp, as SQL (both backends)."""
    return func.date(column)


def _day(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _cube(session: Session, project_id: int, *, per_person: bool):
    """Every edit of the project counted once, grouped by all the keys the breakdowns need: one
    scan of edits instead of one per breakdown. Rows: (depth, intent, model, person, feedback,
    decision, count) with decision already pending for shadow-user guesses."""
    decision = case((or_(Edit.status == "pending", Edit.decision_source == "ai"), "pending"), else_=Edit.status)
    with_feedback = case((Run.feedback != "", "with feedback"), else_="without feedback")
    person = Edit.decided_by_id if per_person else literal(None)
    keys = (Version.depth, Edit.intent, Run.model, person, with_feedback, decision)
    stmt = (select(*keys, func.count()).select_from(Edit).join(Run, Run.id == Edit.run_id)
            .join(Version, Version.id == Run.version_id)
            .where(Run.project_id == project_id).group_by(*keys))
    return session.execute(stmt).all()


def project_metrics(session: Session, *, user: User, project_id: int, days: int = 90) -> ProjectMetrics:
    """Any member sees the project's totals; only its admins (and site admins) see them per person."""
    project, role = access.require_project(session, user, project_id)
    admin = role == "admin"
    groups: list[dict[str, Breakdown]] = [{}, {}, {}, {}, {}]
    for *keys, decision, count in _cube(session, project.id, per_person=admin):
        for g, key in zip(groups, keys, strict=True):
            label = "—" if key is None else str(key)
            g.setdefault(label, Breakdown(label)).add(decision, count)
    depth_g, intent_g, model_g, person_g, feedback_g = groups
    by_depth = sorted(depth_g.values(), key=lambda b: int(b.key))
    by_intent = sorted(intent_g.values(), key=lambda b: -(b.decided + b.pending))
    by_model = sorted(model_g.values(), key=lambda b: b.key)
    by_feedback = sorted(feedback_g.values(), key=lambda b: b.key, reverse=True)
    by_person = None
    if admin:
        names = dict(session.execute(select(User.id, User.name).where(
            User.id.in_([int(k) for k in person_g if k != "—"]))).all()) if person_g else {}
        by_person = []
        for key, b in person_g.items():
            if key == "—" and not b.decided:
                continue  # not yet decided by anyone
            b.key = names.get(int(key), key) if key != "—" else key
            by_person.append(b)
        by_person.sort(key=lambda b: -b.decided)

    runs_by_status = dict(session.execute(
        select(Run.status, func.count()).where(Run.project_id == project.id).group_by(Run.status)).all())
    finished = runs_by_status.get("succeeded", 0)
    # A superseded edit lives on as its carried copy (or was rewritten by hand): count each proposal once.
    edits = session.scalar(select(func.count()).select_from(Edit).join(Run, Run.id == Edit.run_id)
                           .where(Run.project_id == project.id, Run.status == "succeeded",
                                  Edit.status != "superseded")) or 0
    loops = [{"stop_reason": reason or "going on", "documents": documents, "mean_depth": float(depth or 0)}
             for reason, documents, depth in session.execute(
                 select(Document.stop_reason, func.count(), func.avg(Version.depth))
                 .join(Version, Version.id == Document.current_version_id)
                 .where(Document.project_id == project.id).group_by(Document.stop_reason)
                 .order_by(Document.stop_reason))]
    return ProjectMetrics(
        project_id=project.id, by_depth=by_depth, by_intent=by_intent, by_model=by_model, by_person=by_person,
        runs_by_status=runs_by_status, edits_per_run=(edits / finished) if finished else None, loops=loops,
        median_seconds_to_decide=_median_seconds_to_decide(session, project), by_feedback=by_feedback,
        repeats_dropped=session.scalar(select(func.coalesce(func.sum(Run.dropped_repeats), 0))
                                       .where(Run.project_id == project.id)) or 0,
        runs_over_time=_runs_over_time(session, project.id, days),
        decisions_over_time=_decisions_over_time(session, project.id, days),
    )


def _since(days: int):
    return utcnow() - timedelta(days=days)


def _series(rows) -> list[tuple[str, dict[str, int]]]:
    out: dict[str, dict[str, int]] = {}
    for day, key, count in rows:
        out.setdefault(_day(day), {})[key] = count
    return sorted(out.items())


def _runs_over_time(session: Session, project_id: int, days: int) -> list[tuple[str, dict[str, int]]]:
    day = day_of(Run.created_at)
    return _series(session.execute(
        select(day, Run.status, func.count()).where(Run.project_id == project_id, Run.created_at >= _since(days))
        .group_by(day, Run.status)))


def _decisions_over_time(session: Session, project_id: int, days: int) -> list[tuple[str, dict[str, int]]]:
    """People's decisions per day (the day of the current decision)."""
    day = day_of(Edit.decided_at)
    return _series(session.execute(
        select(day, Edit.status, func.count()).join(Run, Run.id == Edit.run_id)
        .where(Run.project_id == project_id, Edit.decision_source == "human", Edit.decided_at >= _since(days))
        .group_by(day, Edit.status)))


def _median_seconds_to_decide(session: Session, project: Project) -> float | None:
    """From the run's end (when its edits could first be seen) to a person's decision, over the
    latest decisions. PostgreSQL takes the median in SQL; SQLite reads the sample."""
    latest = (select(Run.finished_at.label("finished"), Edit.decided_at.label("decided"))
              .join(Run, Run.id == Edit.run_id)
              .where(Run.project_id == project.id, Edit.decided_at.is_not(None), Run.finished_at.is_not(None),
                     Edit.decision_source == "human")
              .order_by(Edit.decided_at.desc()).limit(TIME_TO_DECIDE_SAMPLE))
    if session.get_bind().dialect.name == "postgresql":
        t = latest.subquery()
        seconds = func.extract("epoch", t.c.decided - t.c.finished)
        value = session.scalar(select(func.percentile_cont(0.5).within_group(seconds.asc()))
                               .where(t.c.decided >= t.c.finished))
        return None if value is None else float(value)
    rows = session.execute(latest).all()
    seconds = [(decided - finished).total_seconds() for finished, decided in rows if decided >= finished]
    return statistics.median(seconds) if seconds else None
