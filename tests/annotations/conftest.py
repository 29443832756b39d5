from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.models import Document, Run, User
from tests.annotations.factories import make_document, make_run


@dataclass
class World:
    writer: User
    annotator: User
    admin: User
    document: Document
    run: Run


@pytest.fixture
def world(db, project, member, site_admin) -> World:
    writer = member("writer", name="Wanda Writer")
    annotator = member("annotator", name="Ann Annotator")
    admin = member("admin", name="Ada Admin")
    document = make_document(db, writer, project)
    return World(writer=writer, annotator=annotator, admin=admin, document=document, run=make_run(db, document))
