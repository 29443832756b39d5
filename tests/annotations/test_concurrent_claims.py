"""Annotators asking for their next item at the same moment, each in their own transaction.

The `db` fixture is one connection, so true concurrency needs committed data and a session
per annotator: this runs on a database of its own, on PostgreSQL (row locks with SKIP LOCKED)
and on SQLite (one writer at a time).
"""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.annotations import queues
from app.models import QueueClaim, QueueItem
from tests.annotations.factories import make_document, make_run
from tests.conftest import BACKENDS, PASSWORD, migrated_engine

ANNOTATORS = 7
RUNS = 3
OVERLAP = 2


@pytest.fixture(scope="module", params=BACKENDS)
def committed_engine(request, tmp_path_factory):
    with migrated_engine(request.param, tmp_path_factory.mktemp("claims"), prefix="emend_claims") as engine:
        yield engine


def _queue_of_runs(engine, prefix: str, *, annotators: int, runs: int, overlap: int) -> tuple[int, list]:
    """A project with `runs` runs in a queue, committed, and its `annotators` assignees."""
    with Session(engine, expire_on_commit=False) as s:
        admin = accounts.create_user(s, email=f"{prefix}-admin@example.com", password=PASSWORD, is_site_admin=True)
        writer = accounts.create_user(s, email=f"{prefix}-writer@example.com", password=PASSWORD)
        project = accounts.create_project(s, name=prefix.title(), actor=admin)
        accounts.set_member(s, project=project, user=writer, role="writer", actor=admin)
        people = []
        for n in range(annotators):
            user = accounts.create_user(s, email=f"{prefix}-a{n}@example.com", password=PASSWORD)
            accounts.set_member(s, project=project, user=user, role="annotator", actor=admin)
            people.append(user)
        document = make_document(s, writer, project)
        for _ in range(runs):
            make_run(s, document)
        queue = queues.create_queue(s, project_id=project.id, user=admin, name=f"{prefix} race", item_kind="run",
                                    overlap=overlap, assignee_ids=[a.id for a in people])
        s.commit()
        return queue.id, people


def _all_at_once(engine, people, step) -> None:
    """`step(session, person)` for each person in a thread of their own, all released together."""
    barrier = threading.Barrier(len(people))
    errors: list[BaseException] = []

    def run(user) -> None:
        try:
            barrier.wait(timeout=30)  # all start their transactions together
            with Session(engine, expire_on_commit=False) as s:
                step(s, s.merge(user, load=False))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(u,)) for u in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def _checked_claims(s, queue_id: int, overlap: int):
    """The queue's items and claims, checked: no item past its overlap, counters in step."""
    items = s.scalars(select(QueueItem).where(QueueItem.queue_id == queue_id)).all()
    claims = s.scalars(select(QueueClaim).where(QueueClaim.item_id.in_([i.id for i in items]))).all()
    per_item = Counter(c.item_id for c in claims)
    assert all(count <= overlap for count in per_item.values()), per_item
    assert {i.id: i.active_claims for i in items} == {i.id: per_item.get(i.id, 0) for i in items}
    return items, claims


def test_simultaneous_next_item_never_exceeds_the_overlap(committed_engine):
    queue_id, annotators = _queue_of_runs(committed_engine, "claims", annotators=ANNOTATORS, runs=RUNS,
                                          overlap=OVERLAP)

    def ask(s, me) -> None:
        queues.next_item(s, queue_id=queue_id, user=me)
        s.commit()

    _all_at_once(committed_engine, annotators, ask)
    with Session(committed_engine) as s:
        _items, claims = _checked_claims(s, queue_id, OVERLAP)
        # 7 annotators, 3 items × 2 places: six get an item, one gets nothing, nobody gets two.
        assert len(claims) == RUNS * OVERLAP
        assert len({c.user_id for c in claims}) == RUNS * OVERLAP


def test_simultaneous_next_and_prefetch_never_exceed_the_overlap(committed_engine):
    """Each annotator takes an item and prefetches the one after it, all at the same moment: the
    reservations are claims, so no item gets more than `overlap` people and has_room agrees."""
    annotators_n, runs, overlap = 5, 4, 2
    queue_id, annotators = _queue_of_runs(committed_engine, "prefetch", annotators=annotators_n, runs=runs,
                                          overlap=overlap)

    def work(s, me) -> None:
        current = queues.next_item(s, queue_id=queue_id, user=me)
        s.commit()
        if current is not None:
            queues.prefetch_item(s, queue_id=queue_id, user=me, after_item_id=current.item_id)
            s.commit()

    _all_at_once(committed_engine, annotators, work)
    with Session(committed_engine) as s:
        items, claims = _checked_claims(s, queue_id, overlap)
        per_item = Counter(c.item_id for c in claims)
        assert {i.id: i.has_room for i in items} == {i.id: per_item.get(i.id, 0) < overlap for i in items}
        per_user = Counter(c.user_id for c in claims)
        assert all(count <= 2 for count in per_user.values()), per_user  # the current item and one ahead
        assert len(claims) == runs * overlap  # 4 items × 2 places, all taken by 5 people asking for 10
