"""A real Celery worker process executes a task enqueued after commit, on both brokers."""
from __future__ import annotations

import uuid

import pytest
from kombu import Connection
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import make_engine
from app.events import service as events
from app.jobs import enqueue_after_commit
from app.models import Event
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def _queued(broker_url: str) -> int:
    """Messages waiting on the `emend` queue (declaring it is harmless: the worker does too)."""
    with Connection(broker_url) as conn:
        return conn.default_channel.queue_declare(queue="emend").message_count


def _pings(engine, token: str) -> list[Event]:
    with Session(engine) as session:
        rows = session.scalars(select(Event).where(Event.kind == "system.ping")).all()
        return [event for event in rows if event.data.get("token") == token]


def _ping_end_to_end(app_db_url: str, broker_url: str, send_through, worker) -> None:
    send_through(broker_url)
    engine = make_engine(app_db_url)
    committed, rolled_back = f"committed-{uuid.uuid4().hex}", f"rolled-back-{uuid.uuid4().hex}"
    try:
        before = _queued(broker_url)

        # A transaction that rolls back sends nothing.
        with Session(engine) as session:
            events.record(session, kind="test.enqueue", data={"token": rolled_back})
            enqueue_after_commit(session, "system.ping", rolled_back)
            session.flush()
            session.rollback()
        assert _queued(broker_url) == before

        # Nothing is sent before commit; exactly one message after it.
        with Session(engine) as session:
            events.record(session, kind="test.enqueue", data={"token": committed})
            enqueue_after_commit(session, "system.ping", committed)
            session.flush()
            assert _queued(broker_url) == before
            session.commit()
        assert _queued(broker_url) == before + 1

        proc = worker({"EMEND_DATABASE_URL": app_db_url, "EMEND_BROKER_URL": broker_url})
        [ping] = wait_until(lambda: _pings(engine, committed), timeout=90, proc=proc,
                            what="the worker to record system.ping")
        assert ping.source == "ai"
        assert _pings(engine, rolled_back) == []
        wait_until(lambda: _queued(broker_url) == before, timeout=30, proc=proc,
                   what="the queue to drain")
    finally:
        engine.dispose()


def test_ping_on_embedded_sqlite_broker(tmp_path, sqlite_app_db, send_through, worker):
    _ping_end_to_end(sqlite_app_db, f"sqla+sqlite:///{tmp_path / 'broker.db'}", send_through, worker)


@pytest.mark.redis
@pytest.mark.postgres
def test_ping_on_redis_broker_with_postgresql(postgres_app_db, redis_broker, send_through, worker):
    _ping_end_to_end(postgres_app_db, redis_broker, send_through, worker)
