"""Fixtures for tests that run a real Celery worker process against a committed database."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import jobs
from app.cli import migrate
from app.config import get_settings
from tests.conftest import PG_URL, REDIS_URL, create_postgres_database, drop_postgres_database
from tests.helpers import start_worker, stop_process


@pytest.fixture
def worker(tmp_path) -> Iterator:
    """worker(env) → a started Celery worker process; every one is stopped after the test."""
    started = []

    def _start(env: dict[str, str], **kwargs):
        kwargs.setdefault("log_path", tmp_path / f"worker-{len(started)}.log")
        proc = start_worker(env, **kwargs)
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        stop_process(proc)


@pytest.fixture
def sqlite_app_db(tmp_path) -> str:
    """A migrated SQLite database that other processes can see (nothing is rolled back)."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)
    return url


@pytest.fixture
def postgres_app_db() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("EMEND_TEST_DATABASE_URL is not set")
    url = create_postgres_database(PG_URL, prefix="emend_workers")
    try:
        migrate(url)
        yield url
    finally:
        drop_postgres_database(PG_URL, url)


@pytest.fixture
def redis_broker() -> str:
    if not REDIS_URL:
        pytest.skip("EMEND_TEST_REDIS_URL is not set")
    import redis

    # The test database of Redis is ours: start without messages an earlier test left behind.
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def send_through(monkeypatch):
    """send_through(broker_url) → the Celery app that `enqueue_after_commit` now really sends with.

    The autouse `sent_tasks` fixture records tasks instead of sending them; this undoes that and
    points the app's Celery client at the test broker.
    """
    apps = []

    def _point(broker_url: str):
        import workers.celery_app as celery_module

        monkeypatch.setenv("EMEND_BROKER_URL", broker_url)
        get_settings.cache_clear()
        app = celery_module.make_celery()
        monkeypatch.setattr(celery_module, "celery_app", app)
        jobs.set_dispatcher(None)
        apps.append(app)
        return app

    yield _point
    for app in apps:
        app.close()
    monkeypatch.undo()
    get_settings.cache_clear()
