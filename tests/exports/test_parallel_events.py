"""The events export renders a large log in id ranges on two PostgreSQL backends sharing one snapshot.

Runs on committed data in a database of its own (an exported snapshot does not carry the
exporting transaction's uncommitted rows, so the rolled-back `db` fixture cannot be used).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.config import get_settings
from app.db import set_engine
from app.exports import pg_events, service
from app.models import Event, Export
from tests.conftest import PASSWORD

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(committed_pg_engine):
    set_engine(committed_pg_engine)  # the export's own sessions use the app's engine
    return committed_pg_engine


def test_two_backends_write_every_event_once_in_order(pg_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("EMEND_EXPORT_DIR", str(tmp_path / "exports"))
    get_settings.cache_clear()
    monkeypatch.setattr(pg_events, "PARALLEL_MIN_IDS", 0)  # split even this small log
    monkeypatch.setattr(pg_events, "RANGE_IDS", 97)  # into many ranges, alternating between the helpers
    with Session(pg_engine) as s:
        admin = accounts.create_user(s, email="split@example.com", password=PASSWORD, is_site_admin=True)
        s.execute(text(
            "INSERT INTO events (created_at, kind, actor_id, source, data) "
            "SELECT now(), 'test.event', :uid, 'human', json_build_object('n', g) "
            "FROM generate_series(1, 2500) AS g"), {"uid": admin.id})
        export = service.create_export(s, actor=admin, format="events", options={"jsonl": True, "parquet": False},
                                       enqueue=False)
        s.commit()
        export_id = export.id
    try:
        service.build_in_own_sessions(export_id)
        with Session(pg_engine) as s:
            export = s.get(Export, export_id)
            assert export.status == "succeeded", export.error
            lines = [json.loads(line) for line in Path(export.path, "data.jsonl").read_text().splitlines()]
            ids = s.scalars(select(Event.id).where(Event.id <= max(row["id"] for row in lines))
                            .order_by(Event.id)).all()
        assert [row["id"] for row in lines] == ids  # each once, oldest first, both halves present
        assert sum(1 for row in lines if row["kind"] == "test.event") == 2500
        assert export.manifest["rows"]["data"] == len(lines)
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("stop", ["cancel", "database error"])
def test_a_cancel_or_a_helper_error_stops_both_helpers(pg_engine, tmp_path, monkeypatch, stop):
    """Cancelled part-way, or a helper's query failing, the export ends (no hanging thread), its
    files are removed and the helpers' connections go back to the pool."""
    monkeypatch.setenv("EMEND_EXPORT_DIR", str(tmp_path / "exports"))
    get_settings.cache_clear()
    monkeypatch.setattr(pg_events, "PARALLEL_MIN_IDS", 0)
    monkeypatch.setattr(pg_events, "RANGE_IDS", 50)
    with Session(pg_engine) as s:
        admin = accounts.create_user(s, email="stop@example.com", password=PASSWORD, is_site_admin=True)
        s.execute(text("INSERT INTO events (created_at, kind, actor_id, source, data) "
                       "SELECT now(), 'test.event', :uid, 'human', '{}' FROM generate_series(1, 3000)"),
                  {"uid": admin.id})
        export = service.create_export(s, actor=admin, format="events", options={"jsonl": True}, enqueue=False)
        s.commit()
        export_id = export.id
    if stop == "cancel":
        def cancel_after_the_first_block(session, ctx, writer, progress):
            def progress_then_cancel(rows):
                with Session(pg_engine) as other:
                    other.get(Export, export_id).cancel_requested = True
                    other.commit()
                progress(rows)
            return real_write_events(session, ctx, writer, progress_then_cancel)

        real_write_events = pg_events.write_events
        monkeypatch.setattr(pg_events, "write_events", cancel_after_the_first_block)
        monkeypatch.setattr(service, "PROGRESS_SECONDS", 0)
    else:
        monkeypatch.setattr(pg_events, "_json_line_sql", lambda ctx: "no_such_column")
    try:
        service.build_in_own_sessions(export_id)
        with Session(pg_engine) as s:
            export = s.get(Export, export_id)
            assert export.status == ("cancelled" if stop == "cancel" else "failed")
            if stop != "cancel":
                assert "no_such_column" in export.error
        assert not (tmp_path / "exports" / str(export_id)).exists()
        assert pg_engine.pool.checkedout() == 0
    finally:
        get_settings.cache_clear()
