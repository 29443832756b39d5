"""The project metrics page and the dashboards: server-rendered SVG charts, each with its table
and the JSON behind it."""
from __future__ import annotations

from fastapi import APIRouter, Request

from app.accounts.deps import CurrentUser, DbSession
from app.metrics import charts, dashboards, service
from app.models import Project
from app.web import render

router = APIRouter(include_in_schema=False)

DECISIONS = ("accepted", "modified", "rejected")
RUN_STATUSES = ("succeeded", "failed", "cancelled", "running", "queued")


def _share_chart(rows, title: str, chart_id: str):
    return charts.stacked_shares([(b.key, b.counts()) for b in rows], categories=DECISIONS, title=title,
                                 chart_id=chart_id)


def metrics_charts(metrics: service.ProjectMetrics) -> dict:
    out = {
        "by_depth": _share_chart(metrics.by_depth, "Decisions by revision depth", "chart-by-depth"),
        "by_intent": _share_chart(metrics.by_intent, "Decisions by intent", "chart-by-intent"),
        "by_model": _share_chart(metrics.by_model, "Decisions by model", "chart-by-model"),
        "by_feedback": _share_chart(metrics.by_feedback, "Decisions with and without feedback", "chart-by-feedback"),
        "runs_over_time": charts.stacked_columns(metrics.runs_over_time, series=RUN_STATUSES,
                                                 title="Runs per day", chart_id="chart-runs-over-time"),
        "decisions_over_time": charts.stacked_columns(metrics.decisions_over_time, series=DECISIONS,
                                                      title="Decisions per day", chart_id="chart-decisions-over-time"),
    }
    if metrics.by_person is not None:
        out["by_person"] = _share_chart(metrics.by_person, "Decisions by person", "chart-by-person")
    return out


@router.get("/projects/{project_id}/metrics")
def metrics_page(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    metrics = service.project_metrics(session, user=user, project_id=project_id)
    return render(request, "metrics/project.html", {"metrics": metrics, "project": session.get(Project, project_id),
                                                     "charts": metrics_charts(metrics)})


@router.get("/projects/{project_id}/dashboards")
def dashboards_page(request: Request, project_id: int, session: DbSession, user: CurrentUser):
    board = dashboards.project_dashboards(session, user=user, project_id=project_id)
    model_lines = {m: [(week, share) for week, share, _n in points] for m, points in board.model_acceptance.items()}
    chart = charts.lines(model_lines, title="Acceptance per model, by week", chart_id="chart-model-acceptance")
    return render(request, "metrics/dashboards.html", {"board": board, "project": session.get(Project, project_id),
                                                        "model_chart": chart})
