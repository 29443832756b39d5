"""Exposure from long `edits.shown` arrays, and progress saves that leave no transaction open.

QA's case: thousands of edit ids per `edits.shown` event made the exposure query quadratic, and the
progress read after each commit held SQLite's write lock for the whole of it.
"""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.edits import service as edits
from app.events import service as events
from app.exports import formats, service
from app.models import Event, Export
from tests.conftest import BACKENDS, PASSWORD, migrated_engine

EARLY, LATE = datetime(2001, 1, 1, 9, tzinfo=UTC), datetime(2001, 1, 1, 10, tzinfo=UTC)
FILLER = 10**9  # edit ids that match no edit; they make the arrays long


def _shown(db, world, at, edit_ids, positions) -> None:
    db.add(Event(kind="edits.shown", actor_id=world.writer.id, project_id=world.project.id, run_id=world.r1.id,
                 created_at=at, data={"edit_ids": edit_ids, "positions": positions}))


def test_exposure_of_long_edits_shown_arrays(db, world):
    e = world.edits
    fast, other, pending = e["fast"].id, e["other"].id, e["pending"].id
    ids = [FILLER + i for i in range(5000)]
    ids[17], ids[4321] = other, fast
    _shown(db, world, LATE, ids, list(range(5000)))
    _shown(db, world, EARLY, [other, fast], [900, 5])  # earlier, though recorded later
    _shown(db, world, LATE, [pending, fast], [8])  # fewer positions than ids: none for `fast` here
    # The form record_exposure writes (positions as objects), and another kind of event, which does not count.
    edits.record_exposure(db, run=world.r1b, edit_ids_in_order=[*ids[:2999], pending], user=world.writer)
    events.record(db, kind="edit.decided", data={"edit_ids": [pending], "positions": [0]})
    db.flush()

    ctx = formats.Context(filters=formats.Filters(project_id=world.project.id))
    rows = {r["edit_id"]: r for table, r in formats.exposure_rows(db, ctx) if table == "exposure"}

    def exposure(edit_id):
        return rows[edit_id]["shown"], rows[edit_id]["times_shown"], rows[edit_id]["first_shown_at"], \
            rows[edit_id]["best_position"]

    assert set(rows) == {edit.id for edit in e.values()}  # one row per edit; the filler ids match none
    assert exposure(fast) == (True, 3, EARLY, 5)
    assert exposure(other) == (True, 3, EARLY, 17)
    assert exposure(pending) == (True, 2, LATE, 8)
    assert exposure(e["doubled"].id)[1::2] == (2, 0)  # the world's own events
    assert exposure(e["short"].id) == (False, 0, None, None)


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    with migrated_engine(request.param, tmp_path, prefix="emend_export_progress") as engine:
        yield engine


def test_a_progress_save_leaves_no_transaction_open(committed_engine):
    with Session(committed_engine) as s:
        admin = accounts.create_user(s, email="progress@example.com", password=PASSWORD, is_site_admin=True)
        export_id = service.create_export(s, actor=admin, format="events", enqueue=False).id
        s.commit()
    with Session(committed_engine, expire_on_commit=False) as status:
        tracker = service._Progress(status, status.get(Export, export_id), separate=True)
        tracker.rows = 7
        tracker.save()
        assert not status.in_transaction()
        if committed_engine.dialect.name == "sqlite":  # the write lock is free: another writer gets it at once
            other = sqlite3.connect(committed_engine.url.database, timeout=0)
            other.execute("BEGIN IMMEDIATE")
            other.rollback()
            other.close()
        with Session(committed_engine) as s:
            s.execute(update(Export).where(Export.id == export_id).values(cancel_requested=True))
            s.commit()
        with pytest.raises(service.ExportCancelled):
            tracker.save()
        assert not status.in_transaction()
    with Session(committed_engine) as s:
        assert s.scalar(select(Export.rows_written).where(Export.id == export_id)) == 7
