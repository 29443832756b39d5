"""No run stuck: claims, heartbeats, beat's sweep, and a broker that refuses a new run."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import jobs
from app.accounts import service as accounts
from app.db import get_engine, session_scope, set_engine, utcnow
from app.documents import service as documents
from app.errors import Unavailable
from app.main import create_app
from app.models import Event, Run
from app.runs import service
from tests.conftest import BACKENDS, PASSWORD, api_headers, events_of, migrated_engine

STALE = 60


@pytest.fixture
def run(db, doc, writer):
    return service.start_run(db, document_id=doc.id, user=writer)


def _age(db, run, seconds: float) -> None:
    run.heartbeat_at = utcnow() - timedelta(seconds=seconds)
    db.flush()


def test_one_delivery_holds_a_run(db, run):
    assert service.claim_run(db, run_id=run.id, claimant="a", stale_seconds=STALE)
    db.refresh(run)
    assert run.status == "running" and run.claimed_by == "a" and run.started_at is not None
    assert not service.claim_run(db, run_id=run.id, claimant="b", stale_seconds=STALE)  # a is alive
    assert service.claim_run(db, run_id=run.id, claimant="a", stale_seconds=STALE)  # a's own retry
    _age(db, run, STALE + 1)
    assert service.claim_run(db, run_id=run.id, claimant="b", stale_seconds=STALE)  # a died
    assert not service.beat_heartbeat(db, run_id=run.id, claimant="a")  # a, back, learns it lost the run
    assert service.beat_heartbeat(db, run_id=run.id, claimant="b")
    run.status = "succeeded"
    db.flush()
    assert not service.claim_run(db, run_id=run.id, claimant="c", stale_seconds=STALE)


def test_sweep_resends_a_dead_workers_run_then_fails_it(db, run, sent_tasks):
    service.claim_run(db, run_id=run.id, claimant="a", stale_seconds=STALE)
    assert service.sweep_stale_runs(db, stale_seconds=STALE, max_recoveries=2) == {"resent": [], "failed": []}
    for attempt in (1, 2):
        _age(db, run, STALE + 5)
        assert service.sweep_stale_runs(db, stale_seconds=STALE, max_recoveries=2)["resent"] == [run.id]
        db.refresh(run)
        assert run.params["recoveries"] == attempt and run.status == "running"
    _age(db, run, STALE + 5)
    assert service.sweep_stale_runs(db, stale_seconds=STALE, max_recoveries=2)["failed"] == [run.id]
    db.refresh(run)
    assert run.status == "failed" and "stopped responding 3 times" in run.error and run.finished_at
    assert [e.data["recoveries"] for e in events_of(db, "run.recovered")] == [1, 2]
    db.commit()
    assert [name for name, _args in sent_tasks].count("runs.execute") == 3  # the start and two re-sends


def test_sweep_resends_a_lost_queued_run_only_when_the_queue_is_empty(db, run, sent_tasks):
    _age(db, run, STALE + 1)
    busy = service.sweep_stale_runs(db, stale_seconds=STALE, max_recoveries=3, broker_queue_empty=False)
    assert busy["resent"] == []  # messages are waiting: the workers are busy, nothing was lost
    lost = service.sweep_stale_runs(db, stale_seconds=STALE, max_recoveries=3, broker_queue_empty=True)
    assert lost["resent"] == [run.id]
    db.refresh(run)
    assert run.status == "queued" and (utcnow() - run.heartbeat_at).total_seconds() < 5


def test_sweep_leaves_fresh_runs_alone(db, run):
    assert service.sweep_stale_runs(db, stale_seconds=STALE, max_recoveries=3) == {"resent": [], "failed": []}


@pytest.fixture(params=BACKENDS)
def committed(request, tmp_path):
    """A database of its own where commits are real (the refusal is handled after commit)."""
    previous = get_engine()
    with migrated_engine(request.param, tmp_path, prefix="emend_refused") as engine:
        set_engine(engine)
        try:
            with session_scope() as session:
                admin = accounts.create_user(session, email="a@example.com", password=PASSWORD, is_site_admin=True)
                project = accounts.create_project(session, name="P", actor=admin)
                doc = documents.create_document(session, project_id=project.id, title="T",
                                                text="Teh cat sat on the the mat.", actor=admin)
                ids = (admin.id, doc.id)
            yield engine, ids
        finally:
            set_engine(previous)


def _refusing_broker(name, args, options):
    raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")


def test_a_refused_run_fails_with_a_message_and_does_not_block_the_document(committed):
    engine, (admin_id, doc_id) = committed
    jobs.set_dispatcher(_refusing_broker)
    with pytest.raises(Unavailable, match="broker did not take"), session_scope() as session:
        service.start_run(session, document_id=doc_id, user=session.get(accounts.User, admin_id))
    with Session(engine) as session:
        run = session.scalars(select(Run)).one()
        assert run.status == "failed" and "could not queue this run" in run.error
        assert session.scalars(select(Event.kind).where(Event.kind == "run.failed")).all() == ["run.failed"]
    jobs.set_dispatcher(lambda *a: None)
    with session_scope() as session:  # the document is free for a new run
        assert service.start_run(session, document_id=doc_id, user=session.get(accounts.User, admin_id)).status == "queued"


def test_the_api_answers_503_when_the_broker_refuses(committed):
    _engine, (admin_id, doc_id) = committed
    with session_scope() as session:
        headers = api_headers(session, session.get(accounts.User, admin_id))
    jobs.set_dispatcher(_refusing_broker)
    with TestClient(create_app()) as client:
        r = client.post(f"/api/v1/documents/{doc_id}/runs", json={}, headers=headers)
        assert r.status_code == 503 and "broker did not take" in r.json()["detail"]
        runs = client.get(f"/api/v1/documents/{doc_id}", headers=headers).json()
    assert runs["latest_run_id"] is not None
