"""The periodic sweeps run by beat inside a real worker, as `emend serve` starts it."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.annotations import queues
from app.db import make_engine, utcnow
from app.models import QueueClaim
from tests.annotations.factories import make_document, make_run
from tests.conftest import PASSWORD
from tests.helpers import wait_until
from tests.workers.conftest import sqlite_app_db, worker  # noqa: F401  (fixtures)


def test_beat_releases_an_idle_claim_nobody_asked_about(tmp_path, sqlite_app_db, worker):  # noqa: F811
    engine = make_engine(sqlite_app_db)
    try:
        with Session(engine, expire_on_commit=False) as s:
            admin = accounts.create_user(s, email="beat-admin@example.com", password=PASSWORD, is_site_admin=True)
            writer = accounts.create_user(s, email="beat-writer@example.com", password=PASSWORD)
            annotator = accounts.create_user(s, email="beat-annotator@example.com", password=PASSWORD)
            project = accounts.create_project(s, name="Beat", actor=admin)
            accounts.set_member(s, project=project, user=writer, role="writer", actor=admin)
            accounts.set_member(s, project=project, user=annotator, role="annotator", actor=admin)
            make_run(s, make_document(s, writer, project))
            queue = queues.create_queue(s, project_id=project.id, user=admin, name="Idle", overlap=1,
                                        claim_timeout_seconds=60, assignee_ids=[annotator.id])
            claim = queues.next_item(s, queue_id=queue.id, user=annotator)
            claim.claimed_at = utcnow() - timedelta(hours=1)
            s.commit()
            claim_id = claim.id

        proc = worker({"EMEND_DATABASE_URL": sqlite_app_db,
                       "EMEND_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
                       "EMEND_SWEEP_SECONDS": "0.5"}, beat=True)

        def released():
            with Session(engine) as s:
                return s.scalar(select(QueueClaim.released_at).where(QueueClaim.id == claim_id))

        wait_until(released, timeout=90, proc=proc, what="beat to release the idle claim")
    finally:
        engine.dispose()
