"""Project metrics (PRODUCT §5): acceptance by revision depth, intent, model and person, and with
or without the writer's feedback; runs, edits per run, where loops stop, time to decide, repeats
of rejected edits the filter dropped. Aggregated in SQL, one grouped query each.

Only people's decisions count: a shadow-user prediction (decision_source "ai") is undecided
until a person confirms it, exactly as on the review page.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.accounts import access
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

    @property
    def acceptance(self) -> float | None:
        """Share of decided edits that were taken (as proposed or modified); None before any decision."""
        return (self.accepted + self.modified) / self.decided if self.decided else None

    def as_dict(self) -> dict:
        return {"key": self.key, "accepted": self.accepted, "modified": self.modified, "rejected": self.rejected,
                "pending": self.pending, "decided": self.decided, "acceptance": self.acceptance}


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
        }


def _breakdown(session: Session, project_id: int, key, *joins) -> list[Breakdown]:
    stmt = select(key.label("key"), Edit.status, Edit.decision_source, func.count()).select_from(Edit).join(
        Run, Run.id == Edit.run_id)
    for target, on in joins:
        stmt = stmt.join(target, on)
    stmt = stmt.where(Run.project_id == project_id).group_by(key, Edit.status, Edit.decision_source)
    groups: dict[str, Breakdown] = {}
    for group, edit_status, source, count in session.execute(stmt):
        label = "—" if group is None else str(group)
        b = groups.setdefault(label, Breakdown(label))
        # A shadow-user prediction counts as pending, as everywhere else.
        name = "pending" if edit_status == "pending" or source == "ai" else edit_status
        setattr(b, name, getattr(b, name) + count)
    return list(groups.values())


def project_metrics(session: Session, *, user: User, project_id: int) -> ProjectMetrics:
    """Any member sees the project's totals; only its admins (and site admins) see them per person."""
    project, role = access.require_project(session, user, project_id)
    by_depth = sorted(_breakdown(session, project.id, Version.depth, (Version, Version.id == Run.version_id)),
                      key=lambda b: int(b.key))
    by_intent = sorted(_breakdown(session, project.id, Edit.intent), key=lambda b: -(b.decided + b.pending))
    by_model = sorted(_breakdown(session, project.id, Run.model), key=lambda b: b.key)
    by_person = None
    if role == "admin":
        by_person = sorted(_breakdown(session, project.id, User.name, (User, User.id == Edit.decided_by_id)),
                           key=lambda b: -b.decided)
        by_person = [b for b in by_person if b.key != "—" or b.decided]  # not yet decided by anyone

    with_feedback = case((Run.feedback != "", "with feedback"), else_="without feedback")
    by_feedback = sorted(_breakdown(session, project.id, with_feedback), key=lambda b: b.key, reverse=True)

    runs_by_status = dict(session.execute(
        select(Run.status, func.count()).where(Run.project_id == project.id).group_by(Run.status)).all())
    finished = runs_by_status.get("succeeded", 0)
    edits = session.scalar(select(func.count()).select_from(Edit).join(Run, Run.id == Edit.run_id)
                           .where(Run.project_id == project.id, Run.status == "succeeded")) or 0
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
    )


def _median_seconds_to_decide(session: Session, project: Project) -> float | None:
    """From the run's end (when its edits could first be seen) to a person's decision."""
    rows = session.execute(
        select(Run.finished_at, Edit.decided_at).join(Run, Run.id == Edit.run_id)
        .where(Run.project_id == project.id, Edit.decided_at.is_not(None), Run.finished_at.is_not(None),
               Edit.decision_source == "human")
        .order_by(Edit.decided_at.desc()).limit(TIME_TO_DECIDE_SAMPLE)
    ).all()
    seconds = [(decided - finished).total_seconds() for finished, decided in rows if decided >= finished]
    return statistics.median(seconds) if seconds else None
