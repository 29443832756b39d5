"""The background build reads in one transaction while another commits progress.

On committed data in a database of its own, on each backend: on SQLite the reading
transaction must not hold the write lock, or progress could never be saved.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.config import get_settings
from app.db import set_engine
from app.documents import service as documents
from app.exports import service
from app.models import Export
from tests.conftest import BACKENDS, PASSWORD, migrated_engine


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    with migrated_engine(request.param, tmp_path, prefix="emend_export_build") as engine:
        set_engine(engine)
        yield engine


def test_background_build_saves_progress_and_finishes(committed_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("EMEND_EXPORT_DIR", str(tmp_path / "exports"))
    get_settings.cache_clear()
    try:
        with Session(committed_engine) as s:
            admin = accounts.create_user(s, email="build@example.com", password=PASSWORD, is_site_admin=True)
            project = accounts.create_project(s, name="Build", actor=admin)
            documents.create_document(s, project_id=project.id, title="T", text="Some text.", actor=admin)
            export = service.create_export(s, actor=admin, format="events", options={"jsonl": True},
                                           enqueue=False)
            s.commit()
            export_id = export.id
        service.build_in_own_sessions(export_id)
        with Session(committed_engine) as s:
            export = s.get(Export, export_id)
            assert export.status == "succeeded", export.error
            kinds = [json.loads(line)["kind"] for line in Path(export.path, "data.jsonl").read_text().splitlines()]
        assert "document.created" in kinds and export.rows_written == len(kinds)
    finally:
        get_settings.cache_clear()
