"""Shared fixtures.

Databases: every test that takes `db` runs on SQLite and, when EMEND_TEST_DATABASE_URL is set
(a PostgreSQL server URL), on PostgreSQL too. Each run creates its own database from the
Alembic migrations and drops it at the end; each test runs inside an outer transaction that
is rolled back (join_transaction_mode="create_savepoint").
"""
from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("EMEND_SECRET_KEY", "test-secret")

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import jobs
from app.accounts import service as accounts
from app.cli import migrate
from app.db import get_session, make_engine, set_engine
from app.main import create_app
from app.models import User

PASSWORD = "correct-horse-battery"
PG_URL = os.environ.get("EMEND_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("EMEND_TEST_REDIS_URL")
IN_CI = os.environ.get("CI") == "true"


def pytest_collection_modifyitems(config, items):
    if IN_CI and not PG_URL:
        raise pytest.UsageError("CI=true but EMEND_TEST_DATABASE_URL is not set: PostgreSQL tests would be skipped.")
    if IN_CI and not REDIS_URL:
        raise pytest.UsageError("CI=true but EMEND_TEST_REDIS_URL is not set: Redis tests would be skipped.")


def create_postgres_database(server_url: str, prefix: str = "emend_test") -> str:
    """A new, empty database on the server; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    assert name and re.fullmatch(r"emend_\w+", name)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _backends():
    yield pytest.param("sqlite", id="sqlite")
    if PG_URL:
        yield pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)


BACKENDS = list(_backends())


@contextmanager
def migrated_engine(backend: str, tmp_dir: Path, *, prefix: str = "emend_test") -> Iterator:
    """An engine on a new database of `backend` built by the migrations; dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir / f'{prefix}.db'}"
        migrate(url)
        eng = make_engine(url)
        try:
            yield eng
        finally:
            eng.dispose()
        return
    url = create_postgres_database(PG_URL, prefix=prefix)
    try:
        migrate(url)
        eng = make_engine(url)
        try:
            yield eng
        finally:
            eng.dispose()
    finally:
        drop_postgres_database(PG_URL, url)


@pytest.fixture(scope="session", params=BACKENDS)
def engine(request, tmp_path_factory):
    """A migrated database of each backend, shared by the whole test session."""
    with migrated_engine(request.param, tmp_path_factory.mktemp("db")) as eng:
        yield eng


@pytest.fixture
def committed_pg_engine(tmp_path) -> Iterator:
    """A migrated PostgreSQL database of the test's own, for tests that need committed data seen
    by several transactions (row locks, shared snapshots); dropped afterwards."""
    if not PG_URL:
        pytest.skip("EMEND_TEST_DATABASE_URL is not set")
    with migrated_engine("postgresql", tmp_path, prefix="emend_committed") as engine:
        yield engine


@pytest.fixture
def db(engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test; commits become savepoints."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint",
                      autoflush=False, expire_on_commit=False)
    set_engine(engine)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def sent_tasks() -> Iterator[list]:
    """Tasks enqueued after commit are recorded here instead of going to a broker."""
    sent: list = []
    jobs.set_dispatcher(lambda name, args, options: sent.append((name, args)))
    yield sent
    jobs.set_dispatcher(None)


@pytest.fixture
def app(db):
    application = create_app()

    def _session():
        yield db
        db.commit()

    application.dependency_overrides[get_session] = _session
    return application


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def _make(email: str | None = None, *, admin: bool = False, name: str = "") -> User:
        email = email or f"user{next(counter)}-{uuid.uuid4().hex[:6]}@example.com"
        return accounts.create_user(db, email=email, password=PASSWORD, name=name, is_site_admin=admin)

    return _make


@pytest.fixture
def site_admin(make_user) -> User:
    return make_user(admin=True, name="Site Admin")


@pytest.fixture
def project(db, site_admin):
    return accounts.create_project(db, name="Test project", actor=site_admin)


@pytest.fixture
def member(db, project, site_admin, make_user):
    """member("writer") → a new user with that role in `project`."""
    def _member(role: str, **kwargs) -> User:
        user = make_user(**kwargs)
        accounts.set_member(db, project=project, user=user, role=role, actor=site_admin)
        return user
    return _member


@pytest.fixture
def writer(member) -> User:
    return member("writer")


@pytest.fixture
def doc(db, writer, project):
    """A document of `writer` in `project`, with mistakes in its text (tests/edits/factories.py)."""
    from tests.edits.factories import make_document

    return make_document(db, writer, project)


def events_of(db: Session, kind: str) -> list:
    """The events of one kind recorded so far in this test, oldest first."""
    from app.models import Event

    db.flush()
    return db.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)).all()


def csrf_token(client: TestClient) -> str:
    token = client.cookies.get("csrftoken")
    if token is None:
        client.get("/login")
        token = client.cookies.get("csrftoken")
    return token


def login(client: TestClient, user: User, password: str = PASSWORD) -> None:
    response = client.post("/login", data={"email": user.email, "password": password, "next": "/"},
                           headers={"x-csrftoken": csrf_token(client)}, follow_redirects=False)
    assert response.status_code == 303, response.text
    client.headers["x-csrftoken"] = csrf_token(client)


def api_headers(db, user: User, scopes: list[str] | None = None) -> dict:
    _token, secret = accounts.create_token(db, user=user, scopes=scopes or ["read", "write", "annotate", "export", "admin"])
    return {"Authorization": f"Bearer {secret}"}


ROOT = Path(__file__).resolve().parent.parent
