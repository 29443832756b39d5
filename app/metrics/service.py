"""Project metrics (PRODUCT §5): acceptance by revision depth, intent, model and person, and with
or without the writer's feedback; runs, edits per run, where loops stop, time to decide, repeats
of rejected edits the filter dropped; runs and decisions per day. The breakdowns and the
decisions per day read the rollups (app/metrics/rollups.py: small tables kept exact by database
triggers), not the project's edits; `from_rows` computes the same from the raw rows (tests).

"modified" is its own category everywhere: acceptance is the share accepted as proposed.

Only people's decisions count: a shadow-user prediction (decision_source "ai") is undecided
until a person confirms it, exactly as on the review page.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import BigInteger, cast, func, literal_column, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.db import utcnow
from app.metrics.rollups import DAY_KEYS, EDIT_KEYS, utc_day
from app.models import Document, Edit, Project, Run, User, Version
from app.models.metrics import MetricDecisionDay, MetricDecisionDelta, MetricEditCount, MetricEditDelta

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


def _day(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _rollup(session: Session, counts, deltas, keys: tuple[str, ...], project_id: int, *where):
    """Rows (keys..., n) of a rollup for one project: its folded counts plus the deltas not yet
    folded, summed in one statement (one snapshot, so a fold in between changes nothing)."""
    parts = [select(*[t.c[k] for k in keys], t.c.n).where(t.c.project_id == project_id, *[w(t) for w in where])
             for t in (counts.__table__, deltas.__table__)]
    u = parts[0].union_all(parts[1]).subquery()
    cols = [u.c[k] for k in keys]
    total = cast(func.sum(u.c.n), BigInteger)  # PostgreSQL sums bigints as numeric
    return session.execute(select(*cols, total).group_by(*cols).having(total != 0)).all()


def edit_counts(session: Session, project_id: int):
    """metric_edit_counts of the project: (EDIT_KEYS..., n)."""
    return _rollup(session, MetricEditCount, MetricEditDelta, EDIT_KEYS, project_id)


def decision_days(session: Session, project_id: int, since=None):
    """metric_decision_days of the project, from a UTC day on: (project_id, day, model, status, n)."""
    where = [] if since is None else [lambda t: t.c.day >= since]
    return _rollup(session, MetricDecisionDay, MetricDecisionDelta, DAY_KEYS, project_id, *where)


def from_rows(session: Session, project_id: int) -> tuple[list, list]:
    """(edit counts, decision days) computed from the raw edits: what the rollups must hold."""
    from sqlalchemy import column, text

    from app.metrics.rollups import scratch_queries

    queries = scratch_queries(session.get_bind().dialect.name)
    out = []
    for table, model in (("metric_edit_counts", MetricEditCount), ("metric_decision_days", MetricDecisionDay)):
        q = text(f"SELECT * FROM ({queries[table]}) s WHERE project_id = :p")
        typed = q.columns(*[column(c.name, c.type) for c in model.__table__.columns])  # days as dates
        out.append(session.execute(typed, {"p": project_id}).all())
    return out[0], out[1]


def _groups(rows, *, per_person: bool) -> tuple[list[dict[str, Breakdown]], int]:
    """The five breakdowns (depth, intent, model, person, feedback) and the edits of succeeded
    runs, from rows (EDIT_KEYS..., n). A shadow-user guess counts as pending; a superseded edit
    lives on as its carried copy (or was rewritten by hand), so it is no decision of its own."""
    groups: list[dict[str, Breakdown]] = [{}, {}, {}, {}, {}]
    succeeded_edits = 0
    for _p, model, depth, intent, person, feedback, run_status, status, guess, count in rows:
        if status == "superseded":
            continue
        if run_status == "succeeded":
            succeeded_edits += count
        decision = "pending" if status == "pending" or guess else status
        keys = (str(depth), intent, model, (str(person) if person else "—") if per_person else "—",
                "with feedback" if feedback else "without feedback")
        for g, label in zip(groups, keys, strict=True):
            g.setdefault(label, Breakdown(label)).add(decision, count)
    return groups, succeeded_edits


def project_metrics(session: Session, *, user: User, project_id: int, days: int = 90) -> ProjectMetrics:
    """Any member sees the project's totals; only its admins (and site admins) see them per person."""
    project, role = access.require_project(session, user, project_id)
    admin = role == "admin"
    groups, edits = _groups(edit_counts(session, project.id), per_person=admin)
    depth_g, intent_g, model_g, person_g, feedback_g = groups
    by_depth = sorted(depth_g.values(), key=lambda b: int(b.key))
    by_intent = sorted(intent_g.values(), key=lambda b: (-(b.decided + b.pending), b.key))
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
        by_person.sort(key=lambda b: (-b.decided, b.key))

    runs_by_status = dict(session.execute(
        select(Run.status, func.count()).where(Run.project_id == project.id).group_by(Run.status)).all())
    finished = runs_by_status.get("succeeded", 0)
    loops = [{"stop_reason": reason or "going on", "documents": documents, "mean_depth": float(depth or 0)}
             for reason, documents, depth in session.execute(
                 select(Document.stop_reason, func.count(), func.avg(Version.depth))
                 .join(Version, Version.id == Document.current_version_id)
                 .where(Document.project_id == project.id).group_by(Document.stop_reason)
                 .order_by(Document.stop_reason))]
    since = first_day(days)
    return ProjectMetrics(
        project_id=project.id, by_depth=by_depth, by_intent=by_intent, by_model=by_model, by_person=by_person,
        runs_by_status=runs_by_status, edits_per_run=(edits / finished) if finished else None, loops=loops,
        median_seconds_to_decide=_median_seconds_to_decide(session, project), by_feedback=by_feedback,
        repeats_dropped=session.scalar(select(func.coalesce(func.sum(Run.dropped_repeats), 0))
                                       .where(Run.project_id == project.id)) or 0,
        runs_over_time=_runs_over_time(session, project.id, since),
        decisions_over_time=_series((day, status, n) for _p, day, _m, status, n
                                    in decision_days(session, project.id, since)),
    )


def first_day(days: int) -> date:
    """The first UTC day of a window of `days` days that ends today."""
    return utcnow().date() - timedelta(days=days)


def _series(rows) -> list[tuple[str, dict[str, int]]]:
    out: dict[str, dict[str, int]] = {}
    for day, key, count in rows:
        bucket = out.setdefault(_day(day), {})
        bucket[key] = bucket.get(key, 0) + count
    return sorted(out.items())


def _runs_over_time(session: Session, project_id: int, since: date) -> list[tuple[str, dict[str, int]]]:
    """Runs per UTC day of their creation and status (runs are few next to edits: read directly,
    on the runs' (project_id, created_at) index)."""
    day = literal_column(utc_day(session.get_bind().dialect.name, "runs.created_at"))
    return _series(session.execute(
        select(day, Run.status, func.count())
        .where(Run.project_id == project_id, Run.created_at >= datetime.combine(since, time.min, tzinfo=UTC))
        .group_by(day, Run.status)))


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
