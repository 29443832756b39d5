"""Migrations build exactly the ORM schema on both databases, run down and up again, and the
database guards protect events and edits whatever code talks to the database."""
from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, inspect, select, text, update
from sqlalchemy.exc import DBAPIError

import app.models  # noqa: F401  (registers every table on Base.metadata)
from app.config import ROOT
from app.db import Base, make_engine
from app.documents import service as documents
from app.events import service as events
from app.models import Document, Edit, Event, Run, Version
from tests.conftest import PG_URL, create_postgres_database, drop_postgres_database

needs_postgres = pytest.mark.skipif(not PG_URL, reason="EMEND_TEST_DATABASE_URL is not set")


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


@pytest.fixture
def fresh_url(request, tmp_path):
    """An empty database of the requested backend, removed after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    if not PG_URL:
        pytest.skip("EMEND_TEST_DATABASE_URL is not set")
    url = create_postgres_database(PG_URL, prefix="emend_migrations")
    try:
        yield url
    finally:
        drop_postgres_database(PG_URL, url)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _drift(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("fresh_url", ["postgresql"], indirect=True)
def test_upgrade_downgrade_upgrade_on_postgresql(fresh_url):
    cfg = alembic_config(fresh_url)
    expected = set(Base.metadata.tables)

    command.upgrade(cfg, "head")
    assert expected <= _tables(fresh_url)

    command.downgrade(cfg, "base")
    assert _tables(fresh_url) <= {"alembic_version"}

    command.upgrade(cfg, "head")
    assert expected <= _tables(fresh_url)
    # The guards came back with the schema: an event cannot be deleted after the round trip.
    engine = make_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO events (kind, source, data, created_at) "
                              "VALUES ('test.round_trip', 'human', '{}', now())"))
        with pytest.raises(DBAPIError, match="cannot be changed or deleted"), engine.begin() as conn:
            conn.execute(text("DELETE FROM events"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("fresh_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_migrations_match_the_models(fresh_url):
    """What `alembic check` does: autogenerate against the migrated database finds nothing."""
    command.upgrade(alembic_config(fresh_url), "head")
    assert _drift(fresh_url) == []


# --- DB guards, on the session's migrated databases (SQLite, and PostgreSQL when configured) ---

@pytest.fixture
def writer_document(db, project, member):
    writer = member("writer")
    document = documents.create_document(db, project_id=project.id, title="Guards",
                                         text="The cat sat on the the mat.", actor=writer)
    db.flush()
    version = db.scalar(select(Version).where(Version.document_id == document.id))
    return writer, document, version


def _refused(db, statement, match: str) -> None:
    savepoint = db.begin_nested()
    with pytest.raises(DBAPIError, match=match):
        db.execute(statement)
        db.flush()
    savepoint.rollback()


def test_events_cannot_be_updated_or_deleted(db, make_user):
    user = make_user()
    event_id = events.record(db, kind="test.guard", actor=user, data={"n": 1})

    _refused(db, update(Event).where(Event.id == event_id).values(kind="test.changed"),
             "cannot be changed or deleted")
    _refused(db, delete(Event).where(Event.id == event_id), "cannot be changed or deleted")

    db.expire_all()
    assert db.scalar(select(Event.kind).where(Event.id == event_id)) == "test.guard"


def test_versions_cannot_be_changed(db, writer_document):
    _writer, _document, version = writer_document
    _refused(db, update(Version).where(Version.id == version.id).values(text="rewritten"),
             "cannot be changed or deleted")


def _run_on(db, document: Document, version: Version, writer) -> Run:
    run = Run(project_id=document.project_id, document_id=document.id, version_id=version.id,
              model="emend/offline-reviser", created_by_id=writer.id)
    db.add(run)
    db.flush()
    return run


def test_edit_span_must_match_its_version_text(db, writer_document):
    writer, document, version = writer_document
    run = _run_on(db, document, version, writer)
    start = version.text.index("the the")

    # The matching span is stored: the guard refuses only what is wrong.
    good = Edit(run_id=run.id, version_id=version.id, start=start, end=start + 7, original="the the",
                replacement="the", intent="fluency")
    db.add(good)
    db.flush()
    assert good.id is not None

    for bad_start, bad_end, original in [
        (start, start + 7, "a mat"),                      # text differs from the version's
        (start + 1, start + 8, "the the"),                # shifted by one
        (len(version.text) - 2, len(version.text) + 5, "t."),  # runs past the end
    ]:
        savepoint = db.begin_nested()
        with pytest.raises(DBAPIError, match="edit span"):
            db.add(Edit(run_id=run.id, version_id=version.id, start=bad_start, end=bad_end,
                        original=original, replacement="x", intent="fluency"))
            db.flush()
        savepoint.rollback()

    # Moving a stored edit off its text is refused too.
    _refused(db, update(Edit).where(Edit.id == good.id).values(start=start + 1), "edit span")

