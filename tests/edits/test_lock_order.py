"""Every path that changes a run's edits locks the run row before any edit row.

apply_run (auto-apply after the last decision) holds the run and then locks all its edits; a
decision that locked its edit before waiting for the run would deadlock with it. Runs on
committed data in a PostgreSQL database of its own (row locks need two real transactions).
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.edits import service as edits
from app.models import Edit, Run
from tests.conftest import PASSWORD
from tests.edits.factories import make_document, make_run

pytestmark = pytest.mark.postgres


def _backends_waiting_for_a_lock(engine) -> int:
    with engine.connect() as watch:  # its own transaction: pg_stat_activity is a per-transaction snapshot
        return watch.scalar(select(func.count()).select_from(text("pg_stat_activity")).where(
            text("wait_event_type = 'Lock' AND datname = current_database()")))


def test_a_decision_takes_the_run_lock_before_its_edit(committed_pg_engine):
    pg_engine = committed_pg_engine
    with Session(pg_engine, expire_on_commit=False) as s:
        admin = accounts.create_user(s, email="locks-admin@example.com", password=PASSWORD, is_site_admin=True)
        writer = accounts.create_user(s, email="locks-writer@example.com", password=PASSWORD)
        project = accounts.create_project(s, name="Locks", actor=admin)
        accounts.set_member(s, project=project, user=writer, role="writer", actor=admin)
        run = make_run(s, make_document(s, writer, project), [("Teh", "The"), ("the the", "the")], user=writer)
        edit_id = run.edits[0].id
        s.commit()

    outcome: list = []

    def decide() -> None:
        try:
            with Session(pg_engine) as s:
                edits.decide_edit(s, edit_id=edit_id, user=s.get(type(writer), writer.id), decision="accept")
                s.commit()
            outcome.append("decided")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome.append(exc)

    with Session(pg_engine) as holder:  # as apply_run does: the run first, then its edits
        holder.execute(select(Run).where(Run.id == run.id).with_for_update())
        decision = threading.Thread(target=decide)
        decision.start()
        deadline = time.monotonic() + 30
        while _backends_waiting_for_a_lock(pg_engine) == 0:
            assert time.monotonic() < deadline, "the decision never waited for the run lock"
            time.sleep(0.02)
        # The waiting decision must not hold its edit: NOWAIT fails at once if it does.
        holder.execute(select(Edit).where(Edit.run_id == run.id).with_for_update(nowait=True))
        holder.commit()
    decision.join(30)
    assert outcome == ["decided"]
