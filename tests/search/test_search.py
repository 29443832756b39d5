"""Issue 12 item 5: search over runs, edits and annotations (full-text on PostgreSQL, LIKE on
SQLite), keyset pages, and actions on all results of a filter."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.annotations import queues
from app.annotations import service as annotations
from app.errors import Forbidden, Invalid
from app.models import Edit, Export, QueueItem
from app.search import service
from tests.annotations.factories import make_document, make_run
from tests.conftest import api_headers, login

HX = {"HX-Request": "true"}
F = service.SearchFilters


@pytest.fixture
def world(db, project, member):
    writer, annotator, admin = member("writer", name="Wri"), member("annotator", name="Ann"), member("admin", name="Adm")
    document = make_document(db, writer, project)
    runs = [make_run(db, document), make_run(db, document, model="other/model",
                                             edits=(("very good", "excellent", "clarity"),))]
    return writer, annotator, admin, document, runs


def test_text_and_filters_find_edits(db, world):
    _w, annotator, _a, _d, runs = world
    hits = service.search(db, user=annotator, filters=F(q="excellent")).hits
    assert sorted(h.run_id for h in hits) == sorted(r.id for r in runs)  # both runs proposed it
    assert all("excellent" in h.text for h in hits)
    hits = service.search(db, user=annotator, filters=F(q="excellent", model="other/model")).hits
    assert [h.run_id for h in hits] == [runs[1].id]
    assert {h.intent for h in service.search(db, user=annotator, filters=F(intent="fluency")).hits} == {"fluency"}
    assert service.search(db, user=annotator, filters=F(q="nothing-like-this")).hits == []
    # Runs are found by what they said: their critiques.
    run_hits = service.search(db, user=annotator, filters=F(kind="runs", q="passive voice")).hits
    assert {h.id for h in run_hits} == {r.id for r in runs}


def test_annotations_by_label_and_comment(db, world):
    _w, annotator, _a, _d, runs = world
    annotations.save_annotation(db, user=annotator, target_kind="run", target_id=runs[0].id, label=-1,
                                comment="The verifier let a wrong spelling through")
    hits = service.search(db, user=annotator, filters=F(kind="annotations", q="spelling", label=-1)).hits
    assert [(h.label, h.run_id) for h in hits] == [(-1, runs[0].id)]
    assert service.search(db, user=annotator, filters=F(kind="annotations", label=1)).hits == []


def test_keyset_pages_cover_every_result_once(db, world):
    _w, annotator, *_ = world
    seen, before, pages = [], None, []
    while True:
        page = service.search(db, user=annotator, filters=F(), before=before, page_size=2)
        pages.append(page)
        seen += [h.id for h in page.hits]
        if page.next_before is None:
            break
        before = page.next_before
    assert len(seen) == len(set(seen)) == 4 and seen == sorted(seen, reverse=True)
    # Nothing counts the whole match set: the pages say "more" (PostgreSQL adds an estimate); the
    # count is exact when the first page holds everything.
    assert [p.more for p in pages] == [True, False] and all(p.count is None for p in pages)
    postgres = db.get_bind().dialect.name == "postgresql"
    assert (pages[0].estimate is not None) == postgres and pages[1].estimate is None
    whole = service.search(db, user=annotator, filters=F(), page_size=10)
    assert (whole.count, whole.more, whole.estimate) == (4, False, None)


def test_estimates_have_two_significant_figures():
    assert [service.round_estimate(n) for n in (7, 99, 1234, 31_250, 987_654)] == [7, 99, 1200, 31000, 990000]


def test_writers_and_outsiders_cannot_search(db, world, make_user):
    writer, *_ = world
    with pytest.raises(Forbidden):
        service.search(db, user=writer, filters=F())
    with pytest.raises(Forbidden):
        service.search(db, user=make_user(), filters=F())
    with pytest.raises(Invalid):
        service.search(db, user=world[1], filters=F(kind="edits", status="succeeded"))


def test_admin_sends_all_results_to_a_queue(db, world):
    _w, annotator, admin, _d, runs = world
    queue = queues.create_queue(db, project_id=runs[0].project_id, user=admin, name="Other model",
                                filters=queues.QueueFilters(model="other/model"), assignee_ids=[annotator.id])
    result = service.add_results_to_queue(db, user=admin, filters=F(q="excellent"), queue_id=queue.id)
    assert (result.done, result.skipped, result.reasons) == (1, 1, {"already in the queue": 1})
    assert sorted(db.scalars(select(QueueItem.run_id).where(QueueItem.queue_id == queue.id))) == \
        sorted(r.id for r in runs)
    with pytest.raises(Forbidden):  # an annotator does not manage queues
        service.add_results_to_queue(db, user=annotator, filters=F(), queue_id=queue.id)


def test_decide_all_results_through_the_edits_service(db, world):
    _writer, _an, admin, _d, runs = world
    result = service.decide_results(db, user=admin, filters=F(intent="fluency"),
                                    decision="reject")
    statuses = dict(db.execute(select(Edit.intent, Edit.status).where(Edit.run_id == runs[0].id)).all())
    assert result.done == 2 and statuses["fluency"] == "rejected" and statuses["clarity"] == "pending"
    again = service.decide_results(db, user=admin, filters=F(intent="fluency"), decision="reject")
    assert (again.done, again.reasons) == (0, {"already decided": 2})


def test_export_results_uses_the_exports_service(db, world, sent_tasks):
    _w, _an, admin, _d, runs = world
    export = service.export_results(db, user=admin, filters=F(project_id=runs[0].project_id, model="other/model"))
    assert db.get(Export, export.id).options["model"] == "other/model" and export.format == "unpaired"
    with pytest.raises(Invalid, match="remove text"):
        service.export_results(db, user=admin, filters=F(project_id=runs[0].project_id, q="excellent"))


def test_page_filters_and_acts(db, client, world):
    _w, annotator, admin, _d, runs = world
    queue = queues.create_queue(db, project_id=runs[0].project_id, user=admin, name="Clarity check",
                                filters=queues.QueueFilters(model="other/model"), assignee_ids=[annotator.id])
    login(client, admin)
    page = client.get("/search", params={"kind": "edits", "q": "excellent"})
    assert page.status_code == 200 and page.text.count('class="hit"') == 2 and "Add to queue" in page.text
    assert 'href="/search"' in page.text  # nav link for those who can search
    fragment = client.get("/search", params={"q": "excellent", "intent": "clarity"}, headers=HX)
    assert fragment.status_code == 200 and 'id="results"' in fragment.text and "<html" not in fragment.text
    r = client.post("/search/actions", data={"action": "queue", "queue_id": queue.id, "kind": "edits",
                                             "q": "excellent"}, headers=HX)
    assert r.status_code == 200 and "Added to the queue: runs 1" in r.text
    # Refused: the page as it was, the reason inline.
    r = client.post("/search/actions", data={"action": "export", "kind": "edits", "q": "excellent"}, headers=HX)
    assert r.status_code == 422 and 'id="search-message"' in r.text and r.text.count('class="hit"') == 2
    bad = client.get("/search", params={"date_from": "yesterday"})
    assert bad.status_code == 422 and "not a date" in bad.text and 'value="yesterday"' in bad.text


def test_api_search_is_json(db, client, world):
    _w, annotator, *_ = world
    r = client.get("/api/v1/search", params={"q": "excellent"}, headers=api_headers(db, annotator, ["read"]))
    assert r.status_code == 200 and r.json()["count"] == 2 and len(r.json()["results"]) == 2
    r = client.get("/api/v1/search", params={"kind": "nope"}, headers=api_headers(db, annotator, ["read"]))
    assert r.status_code == 422 and "detail" in r.json()
