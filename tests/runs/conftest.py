"""Fixtures for pipeline tests: a committed database that the pipeline's own sessions can see.

The shared `db` fixture rolls everything back, but `pipeline.execute` opens and commits its own
short sessions, so these tests use a dedicated migrated database per backend instead.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.accounts import service as accounts
from app.db import set_engine
from app.demo import DEMO_TEXT
from app.documents import service as documents
from app.models import Document, Project, User
from tests.conftest import BACKENDS, PASSWORD, migrated_engine


@pytest.fixture(scope="session", params=BACKENDS)
def live_engine(request, tmp_path_factory):
    with migrated_engine(request.param, tmp_path_factory.mktemp("live"), prefix="emend_runs") as engine:
        yield engine


@dataclass
class Seeded:
    writer: User
    admin: User
    project_id: int
    document_id: int


class Live:
    """Committed data plus sessions on the live database."""

    def __init__(self, engine):
        self.engine = engine
        self.Session = sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)

    def session(self) -> Session:
        return self.Session()

    def seed(self, text: str = DEMO_TEXT, **project_settings) -> Seeded:
        tag = uuid.uuid4().hex[:8]
        with self.session() as s:
            admin = accounts.create_user(s, email=f"admin-{tag}@example.com", password=PASSWORD, is_site_admin=True)
            writer = accounts.create_user(s, email=f"writer-{tag}@example.com", password=PASSWORD)
            project = accounts.create_project(s, name=f"Project {tag}", actor=admin)
            for key, value in project_settings.items():
                setattr(project, key, value)
            accounts.set_member(s, project=project, user=writer, role="writer", actor=admin)
            document = documents.create_document(s, project_id=project.id, title="Doc", text=text, actor=writer)
            s.commit()
            return Seeded(writer=writer, admin=admin, project_id=project.id, document_id=document.id)

    def update_project(self, project_id: int, **values) -> None:
        with self.session() as s:
            project = s.get(Project, project_id)
            for key, value in values.items():
                setattr(project, key, value)
            s.commit()

    def document(self, document_id: int) -> Document:
        with self.session() as s:
            return s.get(Document, document_id)


@pytest.fixture
def live(live_engine) -> Iterator[Live]:
    set_engine(live_engine)
    yield Live(live_engine)
