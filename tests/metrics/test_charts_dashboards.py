"""Issue 12 items 6 and 7: charts with their tables, "modified" on its own, dashboards."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.annotations import queues
from app.annotations import service as annotations
from app.db import utcnow
from app.metrics import charts, dashboards
from app.models import Annotation, Stage
from tests.annotations.factories import make_document, make_run
from tests.conftest import api_headers, login
from tests.metrics.test_metrics import decided  # noqa: F401  (fixture)


def test_metrics_page_draws_charts_with_tables_and_modified_apart(db, decided, writer, project, client):  # noqa: F811
    login(client, writer)
    page = client.get(f"/projects/{project.id}/metrics").text
    for chart_id in ("chart-by-depth", "chart-by-intent", "chart-by-model", "chart-by-feedback",
                     "chart-runs-over-time", "chart-decisions-over-time"):
        assert f'<svg class="chart" id="{chart_id}"' in page, chart_id
    # Depth 0 has one edit of each decision: three marks, modified among them in its own colour.
    depth_chart = page[page.index('id="chart-by-depth"'):page.index("</svg>", page.index('id="chart-by-depth"'))]
    assert depth_chart.count('data-category="accepted" data-count="1"') == 1
    assert depth_chart.count('data-category="modified" data-count="1"') == 1
    assert depth_chart.count('data-category="rejected" data-count="1"') == 1
    assert "<th>Modified</th>" in page and "33.3 % of 3" in page
    # Decisions per day: today's three decisions, each in its category.
    today = utcnow().date().isoformat()
    data = client.get(f"/api/v1/projects/{project.id}/metrics", headers=api_headers(db, writer, ["read"])).json()
    assert data["decisions_over_time"] == [{"day": today, "accepted": 1, "modified": 1, "rejected": 1}]
    assert data["runs_over_time"] == [{"day": today, "succeeded": 2}]


def test_chart_text_is_escaped():
    svg = charts.stacked_shares([("<script>", {"accepted": 1})], categories=("accepted",), title="t", chart_id="c")
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def _label(db, user, item, stage, run_label, stage_label):
    annotations.save_annotation(db, user=user, target_kind="run", target_id=item.run_id, label=run_label,
                                queue_item_id=item.id)
    annotations.save_annotation(db, user=user, target_kind="stage", target_id=stage.id, label=stage_label,
                                queue_item_id=item.id)


def test_dashboards_per_annotator_queue_and_model(db, project, member, client):
    writer, admin = member("writer", name="Wri"), member("admin", name="Adm")
    a, b = member("annotator", name="Ann"), member("annotator", name="Bob")
    run = make_run(db, make_document(db, writer, project))
    stage = db.scalar(select(Stage).where(Stage.run_id == run.id, Stage.position == 0))
    queue = queues.create_queue(db, project_id=project.id, user=admin, name="Q", overlap=2, blind=True,
                                assignee_ids=[a.id, b.id])
    item = queue.items[0]
    for user, labels in ((a, (1, -1)), (b, (1, -1))):
        queues.next_item(db, queue_id=queue.id, user=user)
        _label(db, user, item, stage, *labels)
        queues.submit_item(db, queue_id=queue.id, item_id=item.id, user=user)
    # After seeing Bob's labels, Ann changes one of hers.
    ann = db.scalar(select(Annotation).where(Annotation.user_id == a.id, Annotation.target_kind == "stage"))
    annotations.save_annotation(db, user=a, target_kind="stage", target_id=stage.id, label=0, queue_item_id=item.id)
    ann.updated_at = utcnow() + timedelta(seconds=5)
    db.flush()

    board = dashboards.project_dashboards(db, user=admin, project_id=project.id)
    by_name = {board.names[uid]: w for uid, w in board.annotators.items()}
    assert by_name["Ann"].items_done == 1 and by_name["Bob"].items_done == 1
    assert by_name["Ann"].median_seconds is not None and by_name["Ann"].items_per_hour is not None
    assert (by_name["Ann"].labels, by_name["Ann"].changed_after_seeing, by_name["Ann"].changed_share) == (2, 1, 0.5)
    assert by_name["Bob"].changed_share == 0.0
    assert by_name["Bob"].kappa is not None  # two steps shared with Ann
    q = board.queues[0]
    assert q.total.items_done == 2 and q.total.labels == 4 and q.total.alpha is not None

    # An annotator sees the totals and only their own row; the API says the same.
    mine = dashboards.project_dashboards(db, user=b, project_id=project.id)
    assert set(mine.annotators) == {b.id} and mine.queues[0].total.items_done == 2
    data = client.get(f"/api/v1/projects/{project.id}/dashboards", headers=api_headers(db, b, ["read"])).json()
    assert [r["name"] for r in data["annotators"]] == ["Bob"]

    login(client, admin)
    page = client.get(f"/projects/{project.id}/dashboards")
    assert page.status_code == 200 and "Ann" in page.text and "50.0 %" in page.text
    assert 'id="chart-model-acceptance"' in page.text


def test_model_acceptance_by_week_counts_modified_apart(db, decided, writer, project):  # noqa: F811
    weeks = dashboards.model_acceptance(db, project.id)
    [(week, share, n)] = weeks["emend/offline-reviser"]
    assert n == 3 and abs(share - 1 / 3) < 1e-9
    assert week <= utcnow().date().isoformat()


def test_kappa_and_alpha_from_counts_equal_the_libraries():
    """The dashboards' κ and α (from SQL pair counts) are the figures of app/annotations/agreement.py."""
    import random
    from collections import defaultdict

    from app.annotations import agreement

    rng = random.Random(12)
    triples = [(coder, ("run", unit, 0), rng.choice((-1, 0, 1, 1)))
               for unit in range(40) for coder in (1, 2, 3) if rng.random() < 0.8]
    expected = agreement.compute(triples)
    by_unit = defaultdict(list)
    for coder, unit, label in triples:
        by_unit[unit].append((coder, label))
    confusion, coincidence = defaultdict(lambda: defaultdict(int)), defaultdict(float)
    for labels in by_unit.values():
        for ca, la in labels:
            for cb, lb in labels:
                if ca != cb:
                    coincidence[(la, lb)] += 1 / (len(labels) - 1)
                    if ca < cb:
                        confusion[(ca, cb)][(la, lb)] += 1
    assert dashboards.alpha_from_coincidences(coincidence) == expected["alpha"]
    for pair in expected["pairs"]:
        assert dashboards.kappa_from_confusion(confusion[tuple(pair["annotators"])]) == pair["kappa"]
