"""Rollup tables of the metrics and dashboards (issue 12), kept by database triggers
(app/metrics/rollups.py, created by migration 0008) whatever writes edits, runs or events: the
pages read these small aggregates instead of scanning every edit and event.

Key columns are NOT NULL (0 / '' stand for "none") so that every key is one row: NULLs would be
distinct in the primary key. On PostgreSQL the triggers append to the *_deltas tables (no row
is ever updated by two deciders at once) and a beat task folds them into the counts; readers add
both in one statement. On SQLite (one writer at a time) the triggers update the counts directly.
"""
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models.base import UTCDateTime
from app.models.runs import Edit


class _EditKey:
    """The keys of the breakdowns: an edit counted under its run's project, model, status and
    version depth, its intent, decider, status and whether that status is a shadow-user guess."""
    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    depth: Mapped[int] = mapped_column(Integer, primary_key=True)
    intent: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # edits.decided_by_id, 0 = nobody
    feedback: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1: the run had the writer's feedback
    run_status: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    guess: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1: decision_source "ai"
    n: Mapped[int] = mapped_column(BigInteger)


class MetricEditCount(_EditKey, Base):
    __tablename__ = "metric_edit_counts"


class MetricEditDelta(Base):
    """Changes not yet folded into metric_edit_counts (PostgreSQL)."""
    __tablename__ = "metric_edit_deltas"
    __table_args__ = (Index("ix_metric_edit_deltas_project_id", "project_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200))
    depth: Mapped[int] = mapped_column(Integer)
    intent: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int] = mapped_column(Integer)
    feedback: Mapped[int] = mapped_column(Integer)
    run_status: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    guess: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(BigInteger)


class MetricDecisionDay(Base):
    """People's decisions (decision_source "human") per project, UTC day of decided_at, model and
    status: the decisions over time and the acceptance per model and week."""
    __tablename__ = "metric_decision_days"

    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class MetricDecisionDelta(Base):
    __tablename__ = "metric_decision_deltas"
    __table_args__ = (Index("ix_metric_decision_deltas_project_id", "project_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)


class MetricItemTime(Base):
    """One annotator on one queue item: the first claim and the last submission (events
    queue.item_claimed / queue.item_submitted), for items per hour and time per item."""
    __tablename__ = "metric_item_times"

    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(Integer)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# The latest people's decisions (median time to decide) read backwards on this index.
HUMAN_DECIDED = "decision_source = 'human' AND decided_at IS NOT NULL"
ix_edits_human_decided_at = Index("ix_edits_human_decided_at", Edit.decided_at,
                                  postgresql_where=text(HUMAN_DECIDED), sqlite_where=text(HUMAN_DECIDED))
