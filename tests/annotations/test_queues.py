from datetime import timedelta

import pytest
from sqlalchemy import select

from app.annotations import queues, service
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import Event, QueueClaim, QueueItem
from tests.annotations.factories import label_item, make_run


@pytest.fixture
def three(member, world):
    return world.annotator, member("annotator", name="Bea"), member("annotator", name="Cy")


def _queue(db, world, annotators, **kwargs):
    return queues.create_queue(db, project_id=world.document.project_id, user=world.admin, name="Runs",
                               assignee_ids=[a.id for a in annotators], **kwargs)


def test_overlap_two_fills_an_item_and_a_third_never_gets_it(db, world, three):
    a, b, c = three
    queue = _queue(db, world, three, overlap=2)  # one run → one item
    assert len(queue.items) == 1
    claim_a = queues.next_item(db, queue_id=queue.id, user=a)
    claim_b = queues.next_item(db, queue_id=queue.id, user=b)
    assert claim_a.item_id == claim_b.item_id
    assert queues.next_item(db, queue_id=queue.id, user=c) is None
    # Asking again returns the same claim, not a new one.
    assert queues.next_item(db, queue_id=queue.id, user=a).id == claim_a.id
    with pytest.raises(Invalid, match="at least one step"):
        queues.submit_item(db, queue_id=queue.id, item_id=claim_a.item_id, user=a)
    label_item(db, a, db.get(QueueItem, claim_a.item_id))
    label_item(db, b, db.get(QueueItem, claim_b.item_id))
    queues.submit_item(db, queue_id=queue.id, item_id=claim_a.item_id, user=a)
    queues.submit_item(db, queue_id=queue.id, item_id=claim_b.item_id, user=b)
    assert queues.next_item(db, queue_id=queue.id, user=c) is None
    assert queues.next_item(db, queue_id=queue.id, user=a) is None  # done it already
    item = db.get(QueueItem, claim_a.item_id)
    db.refresh(item)
    assert (item.active_claims, item.submitted_count) == (2, 2)
    progress = queues.progress(db, queue=queue)
    assert (progress.items, progress.complete, progress.submissions, progress.percent) == (1, 1, 2, 100)
    assert {p.user.id: p.submitted for p in progress.annotators} == {a.id: 1, b.id: 1, c.id: 0}


def test_each_annotator_gets_items_in_order_and_unassigned_cannot_claim(db, world, three, member):
    make_run(db, world.document, model="other/model")
    a, b, _c = three
    queue = _queue(db, world, [a, b], overlap=1)
    assert len(queue.items) == 2
    first = queues.next_item(db, queue_id=queue.id, user=a)
    second = queues.next_item(db, queue_id=queue.id, user=b)
    assert first.item_id != second.item_id
    with pytest.raises(NotFound):
        queues.next_item(db, queue_id=queue.id, user=three[2])  # not assigned: the queue is not theirs
    with pytest.raises(NotFound):
        queues.next_item(db, queue_id=queue.id, user=world.writer)


def test_filters_choose_the_items(db, world, three):
    make_run(db, world.document, model="other/model")
    queue = queues.create_queue(
        db, project_id=world.document.project_id, user=world.admin, name="Other", assignee_ids=[],
        filters=queues.QueueFilters(model="other/model", depth=0, date_from=utcnow().date()))
    assert len(queue.items) == 1
    with pytest.raises(Invalid):
        queues.create_queue(db, project_id=world.document.project_id, user=world.admin, name="None",
                            filters=queues.QueueFilters(depth=5))
    with pytest.raises(Forbidden):
        queues.create_queue(db, project_id=world.document.project_id, user=world.annotator, name="Mine")
    with pytest.raises(Invalid):
        queues.create_queue(db, project_id=world.document.project_id, user=world.admin, name="W",
                            assignee_ids=[world.writer.id])


def test_idle_claim_is_released_after_the_timeout(db, world, three):
    a, b, c = three
    queue = _queue(db, world, three, overlap=1, claim_timeout_seconds=60)
    claim = queues.next_item(db, queue_id=queue.id, user=a)
    assert queues.next_item(db, queue_id=queue.id, user=b) is None
    claim.claimed_at = utcnow() - timedelta(seconds=120)
    db.flush()
    taken = queues.next_item(db, queue_id=queue.id, user=b)
    assert taken is not None and taken.item_id == claim.item_id
    db.refresh(claim)
    assert claim.released_at is not None
    assert db.scalar(select(Event.id).where(Event.kind == "queue.claim_released"))
    # The released annotator's late submit is refused: the place went to someone else.
    label_item(db, a, db.get(QueueItem, claim.item_id))
    with pytest.raises(Conflict):
        queues.submit_item(db, queue_id=queue.id, item_id=claim.item_id, user=a)
    assert queues.next_item(db, queue_id=queue.id, user=c) is None


def test_the_periodic_sweep_releases_idle_claims_of_every_queue(db, world, three):
    """What beat runs every minute: no one has to ask for an item for an idle claim to go back."""
    a, b, _c = three
    first = _queue(db, world, three, overlap=1, claim_timeout_seconds=60)
    second = _queue(db, world, three, overlap=1, claim_timeout_seconds=600)
    idle = queues.next_item(db, queue_id=first.id, user=a)
    fresh = queues.next_item(db, queue_id=second.id, user=b)
    idle.claimed_at = fresh.claimed_at = utcnow() - timedelta(seconds=120)  # past the first's timeout only
    db.flush()
    assert queues.release_all_idle_claims(db) == 1
    db.refresh(idle)
    db.refresh(fresh)
    assert idle.released_at is not None and fresh.released_at is None
    assert db.get(QueueItem, idle.item_id).active_claims == 0
    assert queues.release_all_idle_claims(db) == 0  # nothing left to release


def test_beat_schedules_registered_sweeps():
    import workers.tasks  # noqa: F401 - registers the tasks
    from workers.celery_app import celery_app

    scheduled = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert scheduled == {"maintenance.release_idle_claims", "maintenance.expire_exports", "maintenance.sweep_stale_runs",
                         "maintenance.fold_metric_rollups"}
    assert scheduled <= set(celery_app.tasks)


def test_labelling_keeps_a_claim_alive(db, world, three):
    a, b, _ = three
    queue = _queue(db, world, three, overlap=1, claim_timeout_seconds=60)
    claim = queues.next_item(db, queue_id=queue.id, user=a)
    claim.claimed_at = utcnow() - timedelta(seconds=120)
    db.flush()
    service.save_annotation(db, user=a, target_kind="run", target_id=world.run.id, label=1,
                            queue_item_id=claim.item_id)
    assert queues.next_item(db, queue_id=queue.id, user=b) is None


def test_blind_mode_hides_others_labels_until_submitted(db, world, three):
    a, b, _ = three
    queue = _queue(db, world, three, overlap=2, blind=True)
    claim_a = queues.next_item(db, queue_id=queue.id, user=a)
    claim_b = queues.next_item(db, queue_id=queue.id, user=b)
    service.save_annotation(db, user=a, target_kind="run", target_id=world.run.id, label=1, queue_item_id=claim_a.item_id)
    queues.submit_item(db, queue_id=queue.id, item_id=claim_a.item_id, user=a)
    trace_b = service.run_trace(db, run_id=world.run.id, user=b)
    assert trace_b.others_hidden and trace_b.others == {}
    service.save_annotation(db, user=b, target_kind="run", target_id=world.run.id, label=-1, queue_item_id=claim_b.item_id)
    queues.submit_item(db, queue_id=queue.id, item_id=claim_b.item_id, user=b)
    trace_b = service.run_trace(db, run_id=world.run.id, user=b)
    assert not trace_b.others_hidden
    assert [x.label for x in trace_b.others[("run", world.run.id, 0)]] == [1]
    # A labels' queue item must be the claimed one and hold the target.
    other = make_run(db, world.document)
    with pytest.raises(Invalid):
        service.save_annotation(db, user=a, target_kind="run", target_id=other.id, label=1,
                                queue_item_id=claim_a.item_id)


def test_not_blind_shows_labels_at_once(db, world, three):
    a, b, _ = three
    queue = _queue(db, world, three, overlap=2, blind=False)
    claim_a = queues.next_item(db, queue_id=queue.id, user=a)
    queues.next_item(db, queue_id=queue.id, user=b)
    service.save_annotation(db, user=a, target_kind="run", target_id=world.run.id, label=0, queue_item_id=claim_a.item_id)
    assert service.run_trace(db, run_id=world.run.id, user=b).others


def test_a_double_claim_is_refused_by_the_unique_key(db, world, three):
    a = three[0]
    queue = _queue(db, world, three, overlap=3)
    claim = queues.next_item(db, queue_id=queue.id, user=a)
    # A concurrent request of the same user that got past the checks: the unique key stops it
    # and the item's active claims stay right.
    assert queues._claim_item(db, queue, claim.item_id, a).id == claim.id
    assert len(db.scalars(select(QueueClaim.id).where(QueueClaim.user_id == a.id)).all()) == 1
    item = db.get(QueueItem, claim.item_id)
    db.refresh(item)
    assert item.active_claims == 1
