import json

from sqlalchemy import select

from app.models import Annotation, Queue, Run, Stage
from tests.annotations.factories import make_run
from tests.conftest import api_headers, login

HX = {"HX-Request": "true"}


def test_trace_page_shows_every_stage(db, client, world):
    login(client, world.annotator)
    page = client.get(f"/runs/{world.run.id}/trace")
    assert page.status_code == 200
    for text in ("1. critique", "2. propose", "3. verify", "Messages sent", "Raw output", "Parsed output",
                 "Passive voice hides who acts.", f'href="/documents/{world.document.id}"',
                 f'href="/runs/{world.run.id}"', "Correct this output"):
        assert text in page.text


def test_trace_is_404_for_outsiders_and_has_no_label_buttons_for_the_writer(db, client, world, member):
    login(client, member("writer"))
    assert client.get(f"/runs/{world.run.id}/trace").status_code == 404
    client.cookies.clear()
    login(client, world.writer)
    page = client.get(f"/runs/{world.run.id}/trace")
    assert page.status_code == 200 and 'data-label="1"' not in page.text


def test_label_form_saves_and_returns_the_widget(db, client, world):
    login(client, world.annotator)
    stage = db.scalar(select(Stage).where(Stage.run_id == world.run.id, Stage.position == 0))
    r = client.post("/annotations", data={"target_kind": "stage", "target_id": stage.id, "label": "-1",
                                          "comment": "too vague"}, headers=HX)
    assert r.status_code == 200 and 'class="label-btn label--1 chosen"' in r.text and "saved" in r.text
    ann = db.scalar(select(Annotation).where(Annotation.target_kind == "stage", Annotation.target_id == stage.id))
    assert (ann.label, ann.comment) == (-1, "too vague")
    critique = db.scalar(select(Stage).where(Stage.run_id == world.run.id, Stage.position == 1))
    only_comment = client.post("/annotations", data={"target_kind": "stage", "target_id": critique.id,
                                                     "comment": "unsure"}, headers=HX)
    assert "Not labelled · comment saved" in only_comment.text
    # Without htmx the form redirects back.
    r = client.post("/annotations", data={"target_kind": "stage", "target_id": stage.id, "label": "1",
                                          "next": f"/runs/{world.run.id}/trace"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/runs/{world.run.id}/trace"


def test_steps_page_and_stop_at_first_error(db, client, world):
    login(client, world.annotator)
    version_id = world.document.current_version_id
    page = client.get(f"/versions/{version_id}/steps")
    assert page.status_code == 200 and "The dog was seen by the cat." in page.text
    r = client.post("/annotations", data={"target_kind": "segment", "target_id": version_id, "step": 0,
                                          "label": "-1", "stop": "1"}, headers=HX)
    assert r.headers["HX-Retarget"] == "#steps" and r.text.count("Not asked") == 3


def test_queue_pages_create_work_submit(db, client, world):
    login(client, world.admin)
    r = client.post("/queues", data={"project_id": world.document.project_id, "name": "Week 1", "item_kind": "run",
                                     "overlap": 2, "claim_timeout_minutes": 30, "blind": "1",
                                     "assignees": [world.annotator.id]}, follow_redirects=False)
    assert r.status_code == 303
    queue = db.scalar(select(Queue).where(Queue.name == "Week 1"))
    assert client.get("/queues").status_code == 200
    client.cookies.clear()
    login(client, world.annotator)
    assert "Week 1" in client.get("/queues").text
    page = client.get(f"/queues/{queue.id}/next")
    assert page.status_code == 200 and f"Run {world.run.id}" in page.text and "Submit" in page.text
    item_id = queue.items[0].id
    assert f'name="queue_item_id" value="{item_id}"' in page.text
    refused = client.post(f"/queues/{queue.id}/items/{item_id}/submit", headers=HX)
    assert refused.status_code == 422 and "at least one step" in refused.text
    client.post("/annotations", data={"target_kind": "run", "target_id": world.run.id, "label": "1",
                                      "queue_item_id": item_id}, headers=HX)
    r = client.post(f"/queues/{queue.id}/items/{item_id}/submit", follow_redirects=True)
    assert "Nothing left for you" in r.text
    page = client.get(f"/queues/{queue.id}")
    assert "Agreement" in page.text and "1 of 2 submissions" in page.text


def test_compare_page_and_choice(db, client, world):
    other = make_run(db, world.document, model="other/model", edits=(("Teh", "The", "fluency"),))
    login(client, world.writer)
    version_id = world.document.current_version_id
    page = client.get(f"/versions/{version_id}/compare?a={world.run.id}&b={other.id}")
    assert page.status_code == 200 and "A is better" in page.text and "excellent" in page.text
    r = client.post(f"/versions/{version_id}/compare", data={"run_a_id": world.run.id, "run_b_id": other.id,
                                                             "choice": "b", "reason": "fewer changes"})
    assert "You picked" in r.text


def test_compare_explains_when_a_second_run_cannot_start(db, client, world):
    make_run(db, world.document, status="running", variant="concise")
    login(client, world.writer)
    r = client.post(f"/versions/{world.document.current_version_id}/candidate-runs",
                    data={"variant": "concise"})
    assert r.status_code == 409 and "could not start" in r.text and "still queued or running" in r.text


def test_api_labels_queue_correction_comparison(db, client, world, sent_tasks):
    headers = api_headers(db, world.annotator, scopes=["annotate"])
    r = client.post("/api/v1/annotations", json={"target_kind": "run", "target_id": world.run.id, "label": 1},
                    headers=headers)
    assert r.status_code == 200 and r.json()["label"] == 1
    read_only = api_headers(db, world.annotator, scopes=["read"])
    assert client.post("/api/v1/annotations", json={"target_kind": "run", "target_id": world.run.id, "label": 1},
                       headers=read_only).status_code == 403
    stage = db.scalar(select(Stage).where(Stage.run_id == world.run.id, Stage.position == 0))
    r = client.post(f"/api/v1/stages/{stage.id}/correction", headers=headers, json={
        "parsed_output": {"critiques": [{"segment": "Nobody knew why.", "category": "vague", "severity": "low",
                                         "text": "Why is unclear."}]}})
    assert r.status_code == 201, r.text
    child = db.get(Run, r.json()["run_id"])
    assert child.parent_run_id == world.run.id
    assert json.loads(r.json()["annotation"]["correction"])["critiques"][0]["category"] == "vague"
    admin = api_headers(db, world.admin)
    from app.annotations import queues

    queue = queues.create_queue(db, project_id=world.document.project_id, user=world.admin, name="API",
                                assignee_ids=[world.annotator.id])
    nxt = client.get(f"/api/v1/queues/{queue.id}/next", headers=headers).json()["item"]
    assert nxt["run_id"] in (world.run.id, child.id) or nxt["run_id"]
    from app.models import QueueItem
    from tests.annotations.factories import label_item

    label_item(db, world.annotator, db.get(QueueItem, nxt["item_id"]))
    r = client.post(f"/api/v1/queues/{queue.id}/items/{nxt['item_id']}/submit", headers=headers)
    assert r.status_code == 200 and r.json()["submitted_at"]
    assert client.get(f"/api/v1/queues/{queue.id}/agreement", headers=admin).status_code == 200
    other = make_run(db, world.document, model="other/model")
    r = client.post("/api/v1/comparisons", headers=headers, json={
        "version_id": world.document.current_version_id, "run_a_id": world.run.id, "run_b_id": other.id,
        "choice": "tie"})
    assert r.status_code == 201 and r.json()["choice"] == "tie"


def test_api_hides_other_projects(db, client, world, make_user, site_admin):
    from app.accounts import service as accounts

    elsewhere = accounts.create_project(db, name="Elsewhere", actor=site_admin)
    stranger = make_user()
    accounts.set_member(db, project=elsewhere, user=stranger, role="annotator", actor=site_admin)
    headers = api_headers(db, stranger, scopes=["annotate"])
    r = client.post("/api/v1/annotations", json={"target_kind": "run", "target_id": world.run.id, "label": 1},
                    headers=headers)
    assert r.status_code == 404
    stage = db.scalar(select(Stage).where(Stage.run_id == world.run.id, Stage.position == 0))
    assert client.post(f"/api/v1/stages/{stage.id}/correction", headers=headers,
                       json={"parsed_output": {"critiques": []}}).status_code == 404
