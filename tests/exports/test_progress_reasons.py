"""Issue 12 item 8: progress written by the job as it goes, date pickers, a reason for 0 rows."""
from __future__ import annotations

import pytest

from app.accounts import service as accounts
from app.exports import service
from tests.conftest import login

pytestmark = pytest.mark.usefixtures("export_dir")
HX = {"HX-Request": "true"}


def test_progress_is_saved_while_rows_are_written(db, world, monkeypatch):
    export = service.create_export(db, actor=world.admin, format="events", project_id=world.project.id,
                                   options={"jsonl": True})
    assert export.rows_estimate and export.rows_estimate > 3
    seen: list[tuple[str, int]] = []
    original = service._Progress.save

    def spy(self):
        seen.append((self.export.status, self.export.rows_written))
        return original(self)

    monkeypatch.setattr(service, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(service._Progress, "save", spy)
    service.build_export(db, export_id=export.id)
    counts = [n for status, n in seen if status == "running"]
    assert counts[0] == 0 and len(set(counts)) >= 3 and counts == sorted(counts)  # it moved, row by row
    assert export.status == "succeeded" and export.rows_written > 0


def test_running_row_shows_rows_of_estimate_and_percent(db, client, world):
    export = service.create_export(db, actor=world.admin, format="unpaired", project_id=world.project.id,
                                   options={"jsonl": True})
    export.status, export.rows_written = "running", 3
    db.flush()
    login(client, world.admin)
    row = client.get(f"/exports/{export.id}/row", headers=HX).text
    percent = service.progress_percent(export)
    assert 0 < percent < 100 and f'value="{percent}"' in row and f"{percent} %" in row
    assert f"3 rows of ~{export.rows_estimate}" in row


def test_page_has_date_pickers(client, world):
    login(client, world.admin)
    page = client.get("/exports").text
    assert '<input type="date" name="since">' in page and '<input type="date" name="until">' in page


def test_zero_rows_say_why(db, client, world, site_admin):
    empty = accounts.create_project(db, name="Empty project", actor=site_admin)
    login(client, world.admin)
    r = client.post("/exports", data={"format": "stepwise", "project_id": str(empty.id), "jsonl": "true"},
                    headers=HX)
    assert r.status_code == 200 and "It will probably have 0 rows: no step labels yet" in r.text
    export = service.list_exports(db, actor=world.admin)[0][0]
    service.build_export(db, export_id=export.id)
    assert export.rows_written == 0 and export.manifest["empty_reason"].startswith("no step labels yet")
    row = client.get(f"/exports/{export.id}/row", headers=HX).text
    assert "0 rows: no step labels yet" in row
    # With data but filters that exclude it: the reason names the filters.
    filtered = service.create_export(db, actor=world.admin, format="stepwise", project_id=world.project.id,
                                     options={"jsonl": True, "model": "no/such-model"})
    service.build_export(db, export_id=filtered.id)
    assert filtered.rows_written == 0
    assert "no rows match the filters (model no/such-model)" in service.empty_reason(db, filtered)
    # An export with rows has no reason.
    full = service.create_export(db, actor=world.admin, format="stepwise", project_id=world.project.id,
                                 options={"jsonl": True})
    service.build_export(db, export_id=full.id)
    assert full.rows_written > 0 and service.empty_reason(db, full) is None
