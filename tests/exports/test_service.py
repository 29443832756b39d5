"""Filters, pseudonyms, the bundle's manifest and card, cancel, expiry, the Celery task and the CLI."""
from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.exports import formats, service
from app.models import Event, Export
from tests.exports.helpers import build, jsonl

pytestmark = pytest.mark.usefixtures("export_dir")


def test_filters_source_model_depth_person_and_dates(db, world):
    e = world.edits

    def edit_ids(**options):
        _export, out = build(db, world, "unpaired", **options)
        return {r["edit_id"] for r in jsonl(out / "data.jsonl")}

    everything = {e[k].id for k in ("doubled", "spelling", "ending", "fast", "other", "short")}
    assert edit_ids() == everything
    assert edit_ids(source="ai") == {e["fast"].id}
    assert edit_ids(source="human") == everything - {e["fast"].id}
    assert edit_ids(model="model-two") == {e["other"].id}
    assert edit_ids(max_depth=0) == everything - {e["short"].id}
    assert edit_ids(person_id=world.writer.id) == everything - {e["fast"].id}
    # decided at T0+1h (doubled, spelling, other), +2h (ending), +3h (short), +30h (fast); until is inclusive of the day
    assert edit_ids(since="2026-03-01T13:30:00+00:00", until="2026-03-01") == {e["ending"].id, e["short"].id}
    assert edit_ids(since="2026-03-02") == {e["fast"].id}


def test_project_filter_and_access(db, world, make_user, member):
    outsider = make_user()
    with pytest.raises(NotFound):
        service.create_export(db, actor=outsider, format="sft", project_id=world.project.id)
    with pytest.raises(Forbidden):
        service.create_export(db, actor=world.writer, format="sft", project_id=world.project.id)
    with pytest.raises(Forbidden):  # only site admins export across projects
        service.create_export(db, actor=world.writer, format="sft", project_id=None)
    from app.accounts import service as accounts

    project_b = accounts.create_project(db, name="B", actor=world.admin)
    _export, out = build(db, world, "sft", project=False)
    assert {r["project_id"] for r in jsonl(out / "data.jsonl")} == {world.project.id}
    export = service.create_export(db, actor=world.admin, format="sft", project_id=project_b.id)
    assert service.build_export(db, export_id=export.id).rows_written == 0
    with pytest.raises(NotFound):
        service.get_export(db, actor=world.writer, export_id=export.id)


def test_invalid_options_are_refused(db, world):
    for fmt, options in [("nope", {}), ("unpaired", {"flavour": "openai"}), ("sft", {"source": "robot"}),
                         ("sft", {"since": "yesterday"}), ("sft", {"jsonl": False, "parquet": False}),
                         ("stepwise", {"neutral_as": "maybe"}), ("sft", {"licence": "mine"}),
                         ("sft", {"since": "2026-02-01", "until": "2026-01-01"})]:
        with pytest.raises(Invalid):
            service.create_export(db, actor=world.admin, format=fmt, project_id=world.project.id, options=options)


def test_pseudonymise_replaces_people_everywhere(db, world):
    secret = get_settings().secret_key
    expected = formats.pseudonym(world.writer.id, secret)
    assert expected.startswith("u_") and expected == formats.pseudonym(world.writer.id, secret)
    _export, out = build(db, world, "unpaired", pseudonymise=True)
    assert {r["person_id"] for r in jsonl(out / "data.jsonl") if r["decision_source"] == "human"} == {expected}
    export, out = build(db, world, "events", pseudonymise=True, parquet=True)
    rows = jsonl(out / "data.jsonl")
    writer_rows = [r for r in rows if r["actor_id"] == expected]
    assert writer_rows and not any(r["actor_id"] == world.writer.id for r in rows)
    assert all(r["ip"] is None for r in rows)
    decided = json.loads(next(r for r in rows if r["kind"] == "edit.decided")["data"])
    assert decided == {"status": "accepted", "user_id": expected}  # e-mail removed, user id pseudonymised
    text = (out / "data.jsonl").read_text()
    assert world.writer.email not in text
    import pyarrow.parquet as pq

    table = pq.read_table(out / "data.parquet")
    assert set(table.column("actor_id").to_pylist()) - {None} <= {r["actor_id"] for r in rows}
    assert export.manifest["requested_by"] == formats.pseudonym(world.admin.id, secret)


def test_events_parquet_and_jsonl_agree(db, world):
    import pyarrow.parquet as pq

    _export, out = build(db, world, "events", parquet=True)
    rows = jsonl(out / "data.jsonl")
    table = pq.read_table(out / "data.parquet").to_pylist()
    assert [r["id"] for r in rows] == [r["id"] for r in table]
    for a, b in zip(rows, table):
        assert a["kind"] == b["kind"] and a["actor_id"] == b["actor_id"]
        assert json.loads(a["data"]) == json.loads(b["data"])
        assert a["created_at"].replace("Z", "+00:00")[:19] == b["created_at"].isoformat()[:19]
    db_ids = db.scalars(select(Event.id).where(Event.project_id == world.project.id,
                                              Event.kind != "export.finished").order_by(Event.id)).all()
    assert [r["id"] for r in rows] == db_ids


def test_manifest_checksums_and_card(db, world):
    export, out = build(db, world, "preference", parquet=True, gzip=True, licence="cc-by-4.0")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(export.manifest))
    assert manifest["format"] == "preference" and manifest["schema_version"] == formats.SCHEMA_VERSION
    assert manifest["filters"]["project_id"] == world.project.id and manifest["rows"] == {"data": 8}
    names = {f["name"] for f in manifest["files"]}
    assert names == {"data.jsonl.gz", "data.parquet"}
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]
        assert (out / f["name"]).stat().st_size == f["bytes"]
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0\n") and "path: data.parquet" in card
    assert "## Fields" in card and "pair_kind" in card and manifest["files"][0]["sha256"] in card
    import gzip

    assert len(gzip.decompress((out / "data.jsonl.gz").read_bytes()).splitlines()) == 8


def test_export_events_are_recorded(db, world, sent_tasks):
    export = service.create_export(db, actor=world.admin, format="sft", project_id=world.project.id)
    db.commit()
    assert sent_tasks == [("exports.build", (export.id,))]
    service.build_export(db, export_id=export.id)
    kinds = db.execute(select(Event.kind, Event.data).where(Event.subject_kind == "export",
                                                            Event.subject_id == export.id).order_by(Event.id)).all()
    assert [k for k, _ in kinds] == ["export.requested", "export.finished"]
    assert kinds[1][1]["status"] == "succeeded" and kinds[1][1]["rows"] == export.rows_written


def test_cancel_queued_and_running(db, world, export_dir):
    queued = service.create_export(db, actor=world.admin, format="events", project_id=world.project.id)
    service.cancel_export(db, actor=world.admin, export_id=queued.id)
    assert queued.status == "cancelled"
    assert service.build_export(db, export_id=queued.id).status == "cancelled"  # a late task does nothing
    with pytest.raises(Conflict):
        service.cancel_export(db, actor=world.admin, export_id=queued.id)
    running = service.create_export(db, actor=world.admin, format="events", project_id=world.project.id)
    running.status = "running"
    service.cancel_export(db, actor=world.admin, export_id=running.id)
    assert running.status == "running" and running.cancel_requested
    assert service.build_export(db, export_id=running.id).status == "cancelled"
    assert not (export_dir / str(running.id)).exists()


def test_expiry_deletes_files(db, world, export_dir):
    export, out = build(db, world, "sft")
    assert export.expires_at - export.finished_at == timedelta(days=get_settings().export_ttl_days)
    assert service.cleanup_expired(db) == 0 and out.exists()
    assert service.cleanup_expired(db, now=export.expires_at + timedelta(seconds=1)) == 1
    assert export.status == "expired" and not out.exists()
    with pytest.raises(Conflict):
        service.export_file(db, actor=world.admin, export_id=export.id, name="data.jsonl")


def test_failure_is_recorded(db, world, monkeypatch):
    def broken(session, ctx):
        yield "data", {"messages": []}
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(formats.BUILDERS, "sft", broken)
    export = service.create_export(db, actor=world.admin, format="sft", project_id=world.project.id)
    db.flush()
    export = service.build_export(db, export_id=export.id)
    assert export.status == "failed" and "disk on fire" in export.error


def test_celery_task_builds_in_process(db, world, monkeypatch):
    from workers import export_tasks

    assert export_tasks.build.name == "exports.build" and export_tasks.build.acks_late

    @contextlib.contextmanager
    def same_session():
        yield db

    monkeypatch.setattr(service, "session_scope", same_session)
    export = service.create_export(db, actor=world.admin, format="unpaired", project_id=world.project.id)
    db.flush()
    export_tasks.build(export.id)
    export = db.get(Export, export.id)
    assert export.status == "succeeded" and export.rows_written == 6


def test_cli_export(db, world, tmp_path, monkeypatch, capsys):
    """The CLI runs the same service (here through the test's session)."""
    from app.cli import main

    @contextlib.contextmanager
    def same_session():
        yield db

    monkeypatch.setattr(service, "session_scope", same_session)
    out = tmp_path / "cli-out"
    code = main(["export", "--format", "stepwise", "--out", str(out), "--parquet", "--project",
                 str(world.project.id), "--pseudonymise", "--neutral-as", "drop", "--user", world.admin.email])
    assert code == 0, capsys.readouterr()
    assert "Export #" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["neutral_as"] == "drop" and manifest["options"]["pseudonymise"] is True
    assert {f["name"] for f in manifest["files"]} == {"data.jsonl", "data.parquet"}
    export = db.get(Export, manifest["export_id"])
    assert export.expires_at is None  # the CLI's directory belongs to its user
    assert main(["export", "--format", "sft", "--out", str(out)]) == 2  # not empty
