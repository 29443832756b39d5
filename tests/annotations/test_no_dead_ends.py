"""Issue 12 item 1 (queue part): labels given on the trace count for the queue item; refused
actions on queue pages answer with the page, the input kept and the reason inline."""
from sqlalchemy import select

from app.annotations import agreement, queues
from app.models import Annotation, Event, Queue, Stage
from tests.conftest import login

HX = {"HX-Request": "true"}


def _queue(db, world, **kwargs):
    return queues.create_queue(db, project_id=world.document.project_id, user=world.admin, name="Trace queue",
                               assignee_ids=[world.annotator.id], **kwargs)


def test_labels_given_on_the_trace_let_the_item_be_submitted(db, client, world):
    queue = _queue(db, world)
    login(client, world.annotator)
    page = client.get(f"/queues/{queue.id}/next")
    item_id = queue.items[0].id
    assert page.status_code == 200
    # Labelled on the run's own trace page: no queue item in the form.
    stage = db.scalar(select(Stage).where(Stage.run_id == world.run.id, Stage.position == 0))
    r = client.post("/annotations", data={"target_kind": "stage", "target_id": stage.id, "label": "-1"}, headers=HX)
    assert r.status_code == 200
    assert db.scalar(select(Annotation.queue_item_id).where(Annotation.target_id == stage.id)) is None
    r = client.post(f"/queues/{queue.id}/items/{item_id}/submit", headers=HX)
    assert r.status_code == 200 and r.headers["HX-Redirect"] == f"/queues/{queue.id}/next"
    # The label now belongs to the item, so the queue's agreement sees it.
    assert db.scalar(select(Annotation.queue_item_id).where(Annotation.target_id == stage.id)) == item_id
    assert agreement.queue_agreement(db, queue=queue)["overall"]["labels"] == 1
    event = db.scalar(select(Event).where(Event.kind == "queue.item_submitted"))
    assert event.data["labels"] == 1 and len(event.data["adopted_annotations"]) == 1


def test_labels_on_another_run_do_not_count(db, world):
    from tests.annotations.factories import make_run

    other = make_run(db, world.document, model="other/model")
    queue = _queue(db, world, filters=queues.QueueFilters(model="emend/offline-reviser"))
    claim = queues.next_item(db, queue_id=queue.id, user=world.annotator)
    from app.annotations import service

    service.save_annotation(db, user=world.annotator, target_kind="run", target_id=other.id, label=1)
    import pytest

    from app.errors import Invalid
    with pytest.raises(Invalid, match="at least one step"):
        queues.submit_item(db, queue_id=queue.id, item_id=claim.item_id, user=world.annotator)


def test_refused_submit_keeps_the_item_page_with_the_reason_inline(db, client, world):
    queue = _queue(db, world)
    login(client, world.annotator)
    client.get(f"/queues/{queue.id}/next")
    item_id = queue.items[0].id
    r = client.post(f"/queues/{queue.id}/items/{item_id}/submit", headers=HX)
    assert r.status_code == 422
    assert 'id="submit-box"' in r.text and "at least one step" in r.text and "<html" not in r.text
    assert "HX-Retarget" not in r.headers
    # Without htmx: the whole item page, still showing the run, with the reason.
    r = client.post(f"/queues/{queue.id}/items/{item_id}/submit")
    assert r.status_code == 422 and f"Run {world.run.id}" in r.text and 'id="submit-message"' in r.text


def test_refused_new_queue_keeps_what_was_typed(db, client, world):
    login(client, world.admin)
    data = {"project_id": world.document.project_id, "name": "Nothing matches", "item_kind": "run", "overlap": 3,
            "claim_timeout_minutes": 45, "model": "no/such-model", "instructions": "Label the verify stage.",
            "assignees": [world.annotator.id]}
    r = client.post("/queues", data=data, headers=HX)
    assert r.status_code == 422 and "match the filters" in r.text and "<html" not in r.text
    for kept in ('value="Nothing matches"', 'value="no/such-model"', 'value="3"', 'value="45"',
                 "Label the verify stage.", f'value="{world.annotator.id}" checked'):
        assert kept in r.text, kept
    assert db.scalar(select(Queue).where(Queue.name == "Nothing matches")) is None
    r = client.post("/queues", data={**data, "overlap": "many"})
    assert r.status_code == 422 and "<html" in r.text and 'value="Nothing matches"' in r.text


def test_refused_assignment_keeps_the_ticks(db, client, world, member):
    queue = _queue(db, world)
    outsider = member("writer", name="Not An Annotator")
    login(client, world.admin)
    r = client.post(f"/queues/{queue.id}/assignees", data={"assignees": [world.annotator.id, outsider.id]},
                    headers=HX)
    assert r.status_code == 422 and 'id="assignees-message"' in r.text and "<html" not in r.text
    assert queues.assignee_ids(db, queue) == {world.annotator.id}


def test_api_still_answers_json(db, client, world):
    from tests.conftest import api_headers

    queue = _queue(db, world)
    headers = api_headers(db, world.annotator, scopes=["annotate"])
    assert client.get(f"/api/v1/queues/{queue.id}/next", headers=headers).status_code == 200
    item_id = queue.items[0].id
    r = client.post(f"/api/v1/queues/{queue.id}/items/{item_id}/submit", headers=headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/json")
    assert "at least one step" in r.json()["detail"]
