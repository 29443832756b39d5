"""Issue 12, flow: the next queue item prefetched (a reserved claim), per-person shortcuts and
move-on-after-label, guidelines beside the item, tags and comments on items."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from app.annotations import keys, notes, queues
from app.db import utcnow
from app.errors import Forbidden, Invalid
from app.models import Event, Guideline, QueueClaim, QueueItem, QueueItemComment, QueueItemTag
from tests.annotations.factories import label_item, make_run
from tests.conftest import api_headers, login

HX = {"HX-Request": "true"}


@pytest.fixture
def two(member, world):
    return world.annotator, member("annotator", name="Bea")


def _queue(db, world, annotators, runs: int = 4, **kwargs):
    for _ in range(runs - 1):
        make_run(db, world.document)
    return queues.create_queue(db, project_id=world.document.project_id, user=world.admin, name="Flow",
                               assignee_ids=[a.id for a in annotators], **kwargs)


def _open(db, queue, user) -> list[int]:
    return [c.item_id for c in queues._live_claims(db, queue, user)]


def _submit(db, queue, user, item_id):
    label_item(db, user, db.get(QueueItem, item_id))
    return queues.submit_item(db, queue_id=queue.id, item_id=item_id, user=user)


def _fresh(db, item_id) -> QueueItem:
    item = db.get(QueueItem, item_id)
    db.refresh(item)
    return item


def test_prefetch_reserves_one_item_after_the_current_and_it_becomes_current_on_submit(db, world, two):
    a, _b = two
    queue = _queue(db, world, two)
    current = queues.next_item(db, queue_id=queue.id, user=a)
    reserved = queues.prefetch_item(db, queue_id=queue.id, user=a, after_item_id=current.item_id)
    assert reserved is not None and reserved.item_id != current.item_id
    # Asking again (a reload, a second tab) gives the same reservation, never a third claim.
    again = queues.prefetch_item(db, queue_id=queue.id, user=a, after_item_id=current.item_id)
    assert again.id == reserved.id
    assert _open(db, queue, a) == [current.item_id, reserved.item_id]
    # /next still answers the current item, not the reservation.
    assert queues.next_item(db, queue_id=queue.id, user=a).id == current.id
    # A stale page (its item is not the current one) gets nothing: it loads /next in full.
    assert queues.prefetch_item(db, queue_id=queue.id, user=a, after_item_id=reserved.item_id) is None
    # The reservation counts against the overlap like a claim.
    assert _fresh(db, reserved.item_id).active_claims == 1 and not _fresh(db, reserved.item_id).has_room

    _submit(db, queue, a, current.item_id)
    taken = queues.take_up_prefetched(db, queue_id=queue.id, item_id=reserved.item_id, user=a)
    assert taken is not None and taken.id == reserved.id
    assert queues.next_item(db, queue_id=queue.id, user=a).item_id == reserved.item_id
    following = queues.prefetch_item(db, queue_id=queue.id, user=a, after_item_id=reserved.item_id)
    assert following is not None and following.item_id not in (current.item_id, reserved.item_id)


def test_two_annotators_with_prefetch_never_share_an_item_beyond_the_overlap(db, world, two):
    a, b = two
    queue = _queue(db, world, two, runs=4, overlap=1)
    a_now = queues.next_item(db, queue_id=queue.id, user=a)
    a_next = queues.prefetch_item(db, queue_id=queue.id, user=a, after_item_id=a_now.item_id)
    b_now = queues.next_item(db, queue_id=queue.id, user=b)
    b_next = queues.prefetch_item(db, queue_id=queue.id, user=b, after_item_id=b_now.item_id)
    held = [a_now.item_id, a_next.item_id, b_now.item_id, b_next.item_id]
    assert len(set(held)) == 4  # four items, each held once
    # Nothing left for either of them to reserve beyond their two.
    assert queues.next_item(db, queue_id=queue.id, user=b).id == b_now.id
    items = db.scalars(select(QueueItem).where(QueueItem.queue_id == queue.id)).all()
    for item in items:
        db.refresh(item)
        assert item.active_claims == 1 and item.has_room is False


def test_overlap_two_lets_two_people_hold_an_item_one_of_them_prefetched(db, world, two, member):
    a, b = two
    c = member("annotator", name="Cy")
    queue = _queue(db, world, [a, b, c], runs=2, overlap=2)
    a_now = queues.next_item(db, queue_id=queue.id, user=a)
    a_next = queues.prefetch_item(db, queue_id=queue.id, user=a, after_item_id=a_now.item_id)
    b_now = queues.next_item(db, queue_id=queue.id, user=b)
    b_next = queues.prefetch_item(db, queue_id=queue.id, user=b, after_item_id=b_now.item_id)
    assert {a_now.item_id, a_next.item_id} == {b_now.item_id, b_next.item_id}
    assert queues.next_item(db, queue_id=queue.id, user=c) is None  # both items have their two


def test_an_idle_reservation_is_released_and_taken_back_only_if_there_is_room(db, world, two):
    a, b = two
    queue = _queue(db, world, two, runs=3, overlap=1, claim_timeout_seconds=60)
    current = queues.next_item(db, queue_id=queue.id, user=a)
    reserved = queues.prefetch_item(db, queue_id=queue.id, user=a, after_item_id=current.item_id)
    # The annotator spends longer than the timeout on the current item: both claims go idle.
    for claim in (current, reserved):
        claim.claimed_at = utcnow() - timedelta(minutes=5)
    db.flush()
    assert queues.release_idle_claims(db, queue=queue) == 2
    assert _fresh(db, reserved.item_id).has_room
    # Someone else takes the released reservation: submitting the current item then shows /next.
    b_claim = queues.next_item(db, queue_id=queue.id, user=b)
    assert b_claim.item_id == current.item_id  # first in order, free again
    b_next = queues.prefetch_item(db, queue_id=queue.id, user=b, after_item_id=b_claim.item_id)
    assert b_next.item_id == reserved.item_id
    assert queues.take_up_prefetched(db, queue_id=queue.id, item_id=reserved.item_id, user=a) is None
    assert _fresh(db, reserved.item_id).active_claims == 1  # b's alone


def test_a_released_reservation_with_room_is_taken_back_and_restamped(db, world, two):
    a, _b = two
    queue = _queue(db, world, two, runs=2, overlap=1, claim_timeout_seconds=60)
    current = queues.next_item(db, queue_id=queue.id, user=a)
    reserved = queues.prefetch_item(db, queue_id=queue.id, user=a, after_item_id=current.item_id)
    reserved.claimed_at = utcnow() - timedelta(minutes=5)
    db.flush()
    assert queues.release_idle_claims(db, queue=queue) == 1
    _submit(db, queue, a, current.item_id)
    taken = queues.take_up_prefetched(db, queue_id=queue.id, item_id=reserved.item_id, user=a)
    assert taken is not None and taken.released_at is None
    assert taken.claimed_at > utcnow() - timedelta(seconds=30)
    assert _fresh(db, reserved.item_id).active_claims == 1


def test_next_item_query_uses_the_open_items_index(db, world, two):
    a, _b = two
    queue = _queue(db, world, two, runs=2)
    dialect = db.get_bind().dialect.name
    sql = ("SELECT id FROM queue_items WHERE queue_id = :q AND has_room ORDER BY position LIMIT 50"
           if dialect == "postgresql" else
           "SELECT id FROM queue_items WHERE queue_id = :q AND has_room = 1 ORDER BY position LIMIT 50")
    if dialect == "postgresql":
        db.execute(text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask which index it would use
        plan = "\n".join(db.scalars(text(f"EXPLAIN {sql}"), {"q": queue.id}))
    else:
        plan = "\n".join(str(r[-1]) for r in db.execute(text(f"EXPLAIN QUERY PLAN {sql}"), {"q": queue.id}))
    assert "ix_queue_items_open" in plan, plan
    assert queues.next_item(db, queue_id=queue.id, user=a) is not None


# --- pages: prefetch, submit, swap ----------------------------------------------------------

def test_prefetch_route_renders_the_next_item_and_submit_answers_without_a_render(db, client, world, two):
    a, _b = two
    queue = _queue(db, world, two, runs=3)
    login(client, a)
    page = client.get(f"/queues/{queue.id}/next")
    assert page.status_code == 200 and 'id="queue-work"' in page.text and 'id="annotator-settings"' in page.text
    current = queues.next_item(db, queue_id=queue.id, user=a).item_id
    got = client.post(f"/queues/{queue.id}/prefetch?after={current}", headers=HX)
    assert got.status_code == 200
    reserved = int(got.headers["X-Queue-Item"])
    assert reserved != current
    assert got.text.lstrip().startswith('<div id="queue-work"') and f'data-item="{reserved}"' in got.text
    assert "<html" not in got.text and "Submit and go to the next item" in got.text
    # A stale `after`: nothing to prefetch.
    assert client.post(f"/queues/{queue.id}/prefetch?after={reserved}", headers=HX).status_code == 204

    label_item(db, a, db.get(QueueItem, current))
    done = client.post(f"/queues/{queue.id}/items/{current}/submit", data={"prefetched": str(reserved)}, headers=HX)
    assert done.status_code == 204, done.text
    assert json.loads(done.headers["HX-Trigger"]) == {"emend:queue-next": {"item": reserved}}
    assert queues.next_item(db, queue_id=queue.id, user=a).item_id == reserved
    # Without a prefetched item the answer is the navigation to /next, as before.
    label_item(db, a, db.get(QueueItem, reserved))
    plain = client.post(f"/queues/{queue.id}/items/{reserved}/submit", headers=HX)
    assert plain.status_code == 200 and plain.headers["HX-Redirect"] == f"/queues/{queue.id}/next"


def test_a_refused_submit_keeps_the_item_and_its_reservation(db, client, world, two):
    a, _b = two
    queue = _queue(db, world, two, runs=2)
    login(client, a)
    client.get(f"/queues/{queue.id}/next")
    current = queues.next_item(db, queue_id=queue.id, user=a).item_id
    reserved = int(client.post(f"/queues/{queue.id}/prefetch?after={current}", headers=HX).headers["X-Queue-Item"])
    refused = client.post(f"/queues/{queue.id}/items/{current}/submit", data={"prefetched": str(reserved)},
                          headers=HX)
    assert refused.status_code == 422 and "at least one step" in refused.text and 'id="submit-box"' in refused.text
    assert _open(db, queue, a) == [current, reserved]


# --- shortcuts and moving on ------------------------------------------------------------------

def test_shortcuts_are_stored_per_person_and_validated(db, world, two):
    a, b = two
    settings = keys.save(db, user=a, keys={**keys.DEFAULT_KEYS, "good": ["g"], "next": ["J", "j"]},
                         advance=False)
    assert settings.keys["good"] == ["g"] and settings.advance is False
    assert keys.effective(a).keys["good"] == ["g"] and keys.effective(b).keys["good"] == ["1", "+"]
    assert keys.effective(b).advance is True
    with pytest.raises(Invalid, match="bound to both"):
        keys.save(db, user=a, keys={**keys.DEFAULT_KEYS, "good": ["n"]}, advance=True)
    with pytest.raises(Invalid, match="at least one key"):
        keys.save(db, user=a, keys={**keys.DEFAULT_KEYS, "help": []}, advance=True)
    with pytest.raises(Invalid, match="not one key"):
        keys.save(db, user=a, keys={**keys.DEFAULT_KEYS, "good": ["gg"]}, advance=True)
    with pytest.raises(Invalid, match="cannot be bound"):
        keys.save(db, user=a, keys={**keys.DEFAULT_KEYS, "submit": ["Enter"]}, advance=True)
    assert keys.effective(a).keys["good"] == ["g"]  # a refused change keeps the saved one
    assert db.scalar(select(Event).where(Event.kind == "user.annotator_settings_changed",
                                         Event.actor_id == a.id)) is not None


def test_shortcuts_form_and_the_overlay_shows_the_persons_bindings(db, client, world, two):
    a, _b = two
    queue = _queue(db, world, two, runs=1)
    login(client, a)
    assert 'name="keys_good" autocomplete="off" spellcheck="false"' in client.get("/account/shortcuts").text
    form = {f"keys_{name}": " ".join(k) for name, k in keys.DEFAULT_KEYS.items()}
    bad = client.post("/account/shortcuts", data={**form, "keys_good": "n"}, headers=HX)
    assert bad.status_code == 422 and "bound to both" in bad.text and 'value="n"' in bad.text
    ok = client.post("/account/shortcuts", data={**form, "keys_good": "g 1"}, headers=HX)  # advance unticked
    assert ok.status_code == 200 and "Shortcuts saved." in ok.text
    page = client.get(f"/queues/{queue.id}/next").text
    settings = json.loads(page.split('id="annotator-settings">', 1)[1].split("</script>", 1)[0])
    assert settings == {"keys": {**keys.DEFAULT_KEYS, "good": ["g", "1"]}, "advance": False}
    overlay = page.split('id="keys-help"', 1)[1].split("</table>", 1)[0]
    assert '<tr data-action="good"><th scope="row">Label the step +1 (good)</th>' in overlay
    assert '<span class="kbd">g</span> <span class="kbd">1</span>' in overlay
    assert "keeps it current" in page
    trace = client.get(f"/runs/{world.run.id}/trace").text
    assert 'id="keys-help"' in trace and '<span class="kbd">g</span>/<span class="kbd">1</span> good' in trace
    # The label buttons hint at the person's own keys, also in the widget a save answers.
    assert '+1 good <span class="kbd">g</span>' in trace
    saved = client.post("/annotations", headers=HX, data={"target_kind": "run", "target_id": world.run.id, "label": "1"})
    assert '+1 good <span class="kbd">g</span>' in saved.text and '0 neutral <span class="kbd">2</span>' in saved.text
    steps = client.get(f"/versions/{world.document.current_version_id}/steps").text
    assert 'id="keys-help"' in steps and '<span class="kbd">g</span>/<span class="kbd">1</span> good' in steps


# --- guidance, tags and comments --------------------------------------------------------------

def test_guidelines_and_instructions_beside_the_item(db, client, world, two):
    a, _b = two
    world.document.project.guidelines = "Prefer plain words."
    db.add(Guideline(project_id=world.document.project_id, text="Never touch quotes.", created_by_id=world.admin.id))
    db.flush()
    queue = _queue(db, world, two, runs=1, instructions="Label the verify stage first.")
    login(client, a)
    page = client.get(f"/queues/{queue.id}/next").text
    guide = page.split('class="queue-guide"', 1)[1].split("</aside>", 1)[0]
    for expected in ("Label the verify stage first.", "Prefer plain words.", "Never touch quotes."):
        assert expected in guide


def test_tags_and_comments_on_an_item_are_logged_and_blind_hides_others_comments(db, world, two):
    a, b = two
    queue = _queue(db, world, two, runs=1, overlap=2, blind=True)
    item_id = queues.next_item(db, queue_id=queue.id, user=a).item_id
    with pytest.raises(Forbidden):  # b has not claimed it
        notes.add_tag(db, queue_id=queue.id, item_id=item_id, user=b, tag="x")
    tag = notes.add_tag(db, queue_id=queue.id, item_id=item_id, user=a, tag="  needs   expert ")
    assert tag.tag == "needs expert"
    assert notes.add_tag(db, queue_id=queue.id, item_id=item_id, user=a, tag="needs expert").id == tag.id
    with pytest.raises(Invalid):
        notes.add_tag(db, queue_id=queue.id, item_id=item_id, user=a, tag=" ")
    comment = notes.add_comment(db, queue_id=queue.id, item_id=item_id, user=a, body="The verify scores look off.")
    queues.next_item(db, queue_id=queue.id, user=b)
    ctx_b = notes.require_item(db, queue_id=queue.id, item_id=item_id, user=b)
    seen = notes.item_notes(db, ctx=ctx_b, user=b)
    assert [t.tag for t in seen.tags] == ["needs expert"] and seen.comments == [] and seen.hidden_comments == 1
    with pytest.raises(Forbidden):
        notes.delete_comment(db, queue_id=queue.id, item_id=item_id, user=b, comment_id=comment.id)
    _submit(db, queue, b, item_id)
    seen = notes.item_notes(db, ctx=notes.require_item(db, queue_id=queue.id, item_id=item_id, user=b), user=b)
    assert [c.body for c in seen.comments] == ["The verify scores look off."]
    notes.remove_tag(db, queue_id=queue.id, item_id=item_id, user=b, tag_id=tag.id)
    notes.delete_comment(db, queue_id=queue.id, item_id=item_id, user=a, comment_id=comment.id)
    assert db.scalars(select(QueueItemTag).where(QueueItemTag.item_id == item_id)).all() == []
    assert db.get(QueueItemComment, comment.id).deleted_at is not None
    kinds = [e.kind for e in db.scalars(select(Event).where(Event.subject_kind == "queue_item",
                                                            Event.subject_id == item_id).order_by(Event.id))]
    for kind in ("queue.item_tagged", "queue.item_commented", "queue.item_untagged", "queue.item_comment_deleted"):
        assert kind in kinds


def test_tag_and_comment_forms_answer_the_block_with_the_reason_inline(db, client, world, two):
    a, _b = two
    queue = _queue(db, world, two, runs=1)
    login(client, a)
    client.get(f"/queues/{queue.id}/next")
    item_id = db.scalar(select(QueueClaim.item_id).where(QueueClaim.user_id == a.id))
    base = f"/queues/{queue.id}/items/{item_id}"
    r = client.post(f"{base}/tags", data={"tag": "typo"}, headers=HX)
    assert r.status_code == 200 and r.text.lstrip().startswith('<section class="card item-notes"')
    assert '<span class="badge">typo</span>' in r.text
    too_long = "x" * 65
    r = client.post(f"{base}/tags", data={"tag": too_long}, headers=HX)
    assert r.status_code == 422 and "at most 64" in r.text and f'value="{too_long}"' in r.text
    r = client.post(f"{base}/comments", data={"body": "Check the second edit."}, headers=HX)
    assert r.status_code == 200 and "Check the second edit." in r.text
    r = client.post(f"{base}/comments", data={"body": "  "}, headers=HX)
    assert r.status_code == 422 and "Write a comment first." in r.text
    page = client.get(f"/queues/{queue.id}/next").text
    assert "Check the second edit." in page and '<span class="badge">typo</span>' in page


# --- JSON API ---------------------------------------------------------------------------------

def test_api_prefetch_tags_comments_and_shortcuts(db, client, world, two):
    a, _b = two
    queue = _queue(db, world, two, runs=2)
    headers = api_headers(db, a, scopes=["annotate"])
    current = client.get(f"/api/v1/queues/{queue.id}/next", headers=headers).json()["item"]["item_id"]
    ahead = client.post(f"/api/v1/queues/{queue.id}/prefetch?after={current}", headers=headers).json()["item"]
    assert ahead is not None and ahead["item_id"] != current
    stale = client.post(f"/api/v1/queues/{queue.id}/prefetch?after={ahead['item_id']}", headers=headers)
    assert stale.status_code == 200 and stale.json() == {"item": None}

    base = f"/api/v1/queues/{queue.id}/items/{current}"
    tag = client.post(f"{base}/tags", json={"tag": "typo"}, headers=headers)
    assert tag.status_code == 201 and tag.json()["tag"] == "typo"
    comment = client.post(f"{base}/comments", json={"body": "Look at edit 2."}, headers=headers)
    assert comment.status_code == 201
    got = client.get(f"{base}/notes", headers=headers).json()
    assert [t["tag"] for t in got["tags"]] == ["typo"] and [c["body"] for c in got["comments"]] == ["Look at edit 2."]
    assert client.delete(f"{base}/tags/{tag.json()['id']}", headers=headers).status_code == 204
    assert client.delete(f"{base}/comments/{comment.json()['id']}", headers=headers).status_code == 204
    assert client.get(f"{base}/notes", headers=headers).json() == {"tags": [], "comments": [], "hidden_comments": 0}
    # Not claimed: refused as JSON.
    other = f"/api/v1/queues/{queue.id}/items/{current + 1000}/tags"
    refused = client.post(other, json={"tag": "x"}, headers=headers)
    assert refused.status_code == 404 and "detail" in refused.json()

    assert client.get("/api/v1/me/shortcuts", headers=headers).json()["keys"]["good"] == ["1", "+"]
    put = client.put("/api/v1/me/shortcuts", json={"keys": {"good": ["g"]}, "advance": False}, headers=headers)
    assert put.status_code == 200 and put.json()["keys"]["good"] == ["g"] and put.json()["advance"] is False
    assert put.json()["keys"]["next"] == ["n", "j"]  # the actions left out keep their keys
    clash = client.put("/api/v1/me/shortcuts", json={"keys": {"bad": ["g"]}}, headers=headers)
    assert clash.status_code == 422 and "bound to both" in clash.json()["detail"]


def test_queue_page_counts_the_items_tags(db, client, world, two):
    a, b = two
    queue = _queue(db, world, two, runs=2)
    first = queues.next_item(db, queue_id=queue.id, user=a).item_id
    second = queues.next_item(db, queue_id=queue.id, user=b).item_id
    notes.add_tag(db, queue_id=queue.id, item_id=first, user=a, tag="typo")
    notes.add_tag(db, queue_id=queue.id, item_id=second, user=b, tag="typo")
    notes.add_tag(db, queue_id=queue.id, item_id=second, user=b, tag="unclear")
    assert notes.tag_counts(db, queue=queue) == [("typo", 2), ("unclear", 1)]
    login(client, world.admin)
    page = client.get(f"/queues/{queue.id}").text
    assert '<span class="badge">typo</span> 2,' in page and '<span class="badge">unclear</span> 1' in page
