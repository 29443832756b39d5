"""The rollups (app/metrics/rollups.py) stay exactly equal to computing from the raw rows, on
random data written every way the app writes it: row by row through the ORM, multi-row INSERT,
UPDATE and DELETE statements, runs changing status, model or feedback, claim and submit events."""
from __future__ import annotations

import hashlib
import random
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, insert, inspect, select, text, update

from app.db import utcnow
from app.metrics import dashboards, rollups, service
from app.models import Edit, Event, Queue, QueueItem, Run, Version
from app.models.metrics import MetricEditDelta, MetricItemTime
from tests.edits.factories import make_document

MODELS = ("emend/offline-reviser", "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku")
INTENTS = ("fluency", "clarity", "coherence", "style", "meaning-changed", "other")
STATUSES = ("pending", "accepted", "rejected", "modified", "superseded")
TEXT = " ".join(f"Sentence {i} has some words in it that an editor could change." for i in range(40))


def _norm(rows) -> list[tuple]:
    return sorted(tuple(int(x) if hasattr(x, "as_integer_ratio") and not isinstance(x, float) else x for x in r)
                  for r in rows)


def _item_times_from_events(db, project_id: int) -> list[tuple]:
    """The per-item claim and submission times straight from the event log (the old query)."""
    claimed = func.min(_when(Event.kind == rollups.CLAIMED))
    submitted = func.max(_when(Event.kind == rollups.SUBMITTED))
    return _norm(db.execute(
        select(Event.project_id, QueueItem.queue_id, Event.subject_id, Event.actor_id, claimed, submitted)
        .join(QueueItem, QueueItem.id == Event.subject_id)
        .where(Event.kind.in_((rollups.CLAIMED, rollups.SUBMITTED)), Event.subject_kind == "queue_item",
               Event.project_id == project_id, Event.actor_id.is_not(None))
        .group_by(Event.project_id, QueueItem.queue_id, Event.subject_id, Event.actor_id)).all())


def _when(cond):
    from sqlalchemy import case

    return case((cond, Event.created_at))


def _raw_cube(db, project_id: int) -> dict[tuple, int]:
    """The breakdown keys counted straight from edits, runs and versions with the ORM (the query
    the metrics ran before the rollups), as an independent check of the rollup's SQL."""
    rows = db.execute(
        select(Run.project_id, Run.model, Version.depth, Edit.intent, Edit.decided_by_id, Run.feedback, Run.status,
               Edit.status, Edit.decision_source, func.count())
        .select_from(Edit).join(Run, Run.id == Edit.run_id).join(Version, Version.id == Run.version_id)
        .where(Run.project_id == project_id)
        .group_by(Run.project_id, Run.model, Version.depth, Edit.intent, Edit.decided_by_id, Run.feedback,
                  Run.status, Edit.status, Edit.decision_source)).all()
    out: dict[tuple, int] = {}
    for p, model, depth, intent, person, feedback, run_status, status, source, n in rows:
        key = (p, model, depth, intent, person or 0, 1 if feedback else 0, run_status, status,
               1 if source == "ai" else 0)
        out[key] = out.get(key, 0) + n
    return out


def _check(db, project_id: int) -> None:
    db.flush()
    counts, days = service.from_rows(db, project_id)
    assert _norm(service.edit_counts(db, project_id)) == _norm(counts)
    assert {tuple(r[:-1]): int(r[-1]) for r in service.edit_counts(db, project_id)} == _raw_cube(db, project_id)
    assert _norm(service.decision_days(db, project_id)) == _norm(days)
    stored = _norm(db.execute(select(MetricItemTime.project_id, MetricItemTime.queue_id, MetricItemTime.item_id,
                                     MetricItemTime.user_id, MetricItemTime.claimed_at, MetricItemTime.submitted_at)
                              .where(MetricItemTime.project_id == project_id)).all())
    assert stored == _item_times_from_events(db, project_id)


def _metrics_from_raw_rows(db, monkeypatch, user, project_id: int) -> dict:
    with monkeypatch.context() as m:
        m.setattr(service, "edit_counts", lambda s, p: service.from_rows(s, p)[0])
        m.setattr(service, "decision_days", lambda s, p, since=None: [
            r for r in service.from_rows(s, p)[1] if since is None or _as_date(r[1]) >= since])
        m.setattr(dashboards, "decision_days", lambda s, p: service.from_rows(s, p)[1])
        return {"metrics": service.project_metrics(db, user=user, project_id=project_id).as_dict(),
                "weeks": dashboards.model_acceptance(db, project_id)}


def _as_date(value):
    from datetime import date

    return value if isinstance(value, date) else date.fromisoformat(value)


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_equal_the_raw_rows_on_random_data(db, project, member, site_admin, monkeypatch, seed):
    rng = random.Random(seed)
    writer = member("writer", name="Wri")
    people = [member("annotator", name=f"Ann {i}") for i in range(3)]
    doc = make_document(db, writer, project, text=TEXT)
    versions = [doc.current_version]
    for depth in (1, 2, 3):  # versions are insert-only; depth is what the breakdown reads
        versions.append(Version(document_id=doc.id, number=depth + 1, depth=depth, text=TEXT,
                                text_sha256=hashlib.sha256(TEXT.encode()).hexdigest()))
    db.add_all(versions[1:])
    db.flush()
    runs = []
    for _ in range(8):
        v = rng.choice(versions)
        runs.append(Run(project_id=project.id, document_id=doc.id, version_id=v.id, model=rng.choice(MODELS),
                        status=rng.choice(("running", "succeeded", "failed")),
                        feedback=rng.choice(("", "", "keep it plain")), created_by_id=writer.id))
    db.add_all(runs)
    db.flush()
    now = utcnow()

    def edit_values():
        run = rng.choice(runs)
        start = rng.randrange(0, len(TEXT) - 20)
        end = start + rng.randrange(1, 12)
        status = rng.choice(STATUSES)
        source = None if status == "pending" else rng.choice(("human", "human", "ai"))
        return {"run_id": run.id, "version_id": run.version_id, "start": start, "end": end,
                "original": TEXT[start:end], "replacement": "x", "intent": rng.choice(INTENTS), "status": status,
                "decision_source": source, "decided_by_id": rng.choice(people).id if source else None,
                "decided_at": now - timedelta(days=rng.randrange(0, 30), hours=rng.randrange(24)) if source else None}

    # Row by row through the ORM, then one multi-row INSERT (as the imports do).
    for _ in range(40):
        db.add(Edit(**edit_values()))
        db.flush()
    _check(db, project.id)
    db.execute(insert(Edit), [edit_values() for _ in range(60)])
    _check(db, project.id)

    # Decisions one by one, a shadow-user guess, and bulk statements.
    edits = list(db.scalars(select(Edit).join(Run).where(Run.project_id == project.id)))
    for e in rng.sample(edits, 30):
        e.status = rng.choice(STATUSES)
        e.decision_source = rng.choice(("human", "ai", None))
        e.decided_by_id = rng.choice(people).id
        e.decided_at = now - timedelta(days=rng.randrange(0, 100))
        e.intent = rng.choice(INTENTS)
        db.flush()
    _check(db, project.id)
    db.execute(update(Edit).where(Edit.id % 3 == 0).values(status="rejected", decision_source="human",
                                                           decided_at=now - timedelta(days=2)))
    _check(db, project.id)
    before = _norm(service.edit_counts(db, project.id))
    rollups.fold(db.connection())  # PostgreSQL: deltas into counts; readers see the same
    assert _norm(service.edit_counts(db, project.id)) == before
    if db.get_bind().dialect.name == "postgresql":
        assert db.scalar(select(func.count()).select_from(MetricEditDelta)) == 0
    _check(db, project.id)

    # Runs change what their edits are counted under; a statement that changes nothing counted.
    for run in rng.sample(runs, 4):
        run.status = rng.choice(("succeeded", "failed", "cancelled"))
        db.flush()
    runs[0].model, runs[1].feedback = "openai/gpt-4o", "new feedback"
    db.flush()
    db.execute(update(Run).where(Run.project_id == project.id).values(heartbeat_at=now))
    db.execute(update(Run).where(Run.id.in_([r.id for r in runs[2:5]])).values(status="succeeded"))
    _check(db, project.id)
    db.execute(delete(Edit).where(Edit.id.in_([e.id for e in rng.sample(edits, 10)])))
    _check(db, project.id)

    # Claims and submissions of queue items, in any order, row by row and in bulk; events of other
    # kinds, of no item, or without an actor count for nothing.
    queue = Queue(project_id=project.id, name="Q", overlap=2, created_by_id=site_admin.id, filters={})
    db.add(queue)
    db.flush()
    items = [QueueItem(queue_id=queue.id, position=i, run_id=r.id) for i, r in enumerate(runs)]
    db.add_all(items)
    db.flush()

    def event_values():
        kind = rng.choice((rollups.CLAIMED, rollups.SUBMITTED, rollups.SUBMITTED, "annotation.saved"))
        return {"kind": kind, "actor_id": rng.choice([p.id for p in people] + [None]), "project_id": project.id,
                "subject_kind": rng.choice(("queue_item", "queue_item", "queue_item", "run")),
                "subject_id": rng.choice([i.id for i in items] + [10 ** 8]),
                "created_at": now - timedelta(minutes=rng.randrange(0, 600)), "source": "human", "data": {}}

    for _ in range(40):
        db.add(Event(**event_values()))
        db.flush()
    db.execute(insert(Event), [event_values() for _ in range(80)])
    _check(db, project.id)
    assert db.scalar(select(func.count()).select_from(MetricItemTime)) > 0

    # The pages' figures: from the rollups, and from the raw rows, are the same.
    rollups.fold(db.connection())
    for user in (site_admin, writer):
        got = {"metrics": service.project_metrics(db, user=user, project_id=project.id).as_dict(),
               "weeks": dashboards.model_acceptance(db, project.id)}
        assert got == _metrics_from_raw_rows(db, monkeypatch, user, project.id)
    decided = sum(b["decided"] for b in got["metrics"]["acceptance_by_depth"])
    assert decided > 0 and got["weeks"]


def test_rebuild_recomputes_what_the_triggers_keep(db, project, member):
    writer = member("writer")
    doc = make_document(db, writer, project, text=TEXT)
    run = Run(project_id=project.id, document_id=doc.id, version_id=doc.current_version_id, model="m",
              status="succeeded", created_by_id=writer.id)
    db.add(run)
    db.flush()
    db.add_all([Edit(run_id=run.id, version_id=run.version_id, start=i, end=i + 3, original=TEXT[i:i + 3],
                     replacement="y", status="accepted", decision_source="human", decided_by_id=writer.id,
                     decided_at=utcnow()) for i in range(0, 30, 5)])
    db.flush()
    kept = _norm(service.edit_counts(db, project.id)), _norm(service.decision_days(db, project.id))
    rollups.rebuild(db.connection())
    assert (_norm(service.edit_counts(db, project.id)), _norm(service.decision_days(db, project.id))) == kept
    assert kept[0] == [(project.id, "m", 0, "other", writer.id, 0, "succeeded", "accepted", 0, 6)]


def test_the_rollup_triggers_are_in_place(db):
    """A later SQLite batch migration of edits, runs or events drops triggers: this notices."""
    if db.get_bind().dialect.name == "postgresql":
        names = set(db.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
    else:
        names = set(db.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
    assert set(rollups.TRIGGERS) <= names
    assert "ix_edits_human_decided_at" in {i["name"] for i in inspect(db.connection()).get_indexes("edits")}


def test_decisions_over_time_are_whole_utc_days(db, project, member):
    """The window starts at a UTC midnight: a decision of today counts, one older than the window not."""
    writer = member("admin")
    doc = make_document(db, writer, project, text=TEXT)
    run = Run(project_id=project.id, document_id=doc.id, version_id=doc.current_version_id, model="m",
              status="succeeded", created_by_id=writer.id)
    db.add(run)
    db.flush()
    now = utcnow()
    for i, when in enumerate((now, now - timedelta(days=91), now - timedelta(days=3))):
        db.add(Edit(run_id=run.id, version_id=run.version_id, start=i, end=i + 2, original=TEXT[i:i + 2],
                    replacement="y", status="rejected", decision_source="human", decided_by_id=writer.id,
                    decided_at=when))
    db.flush()
    series = service.project_metrics(db, user=writer, project_id=project.id).decisions_over_time
    assert series == sorted([(now.date().isoformat(), {"rejected": 1}),
                             ((now - timedelta(days=3)).date().isoformat(), {"rejected": 1})])


@pytest.mark.postgres
def test_a_run_changing_status_while_edits_are_written_keeps_the_rollup_exact(committed_pg_engine):
    """Two real transactions: edits inserted for a run while another changes the run's status.
    The edit statement holds the run FOR SHARE, so the status change waits for it and then re-keys
    the new edits too; afterwards the beat task folds the deltas and the counts equal the rows."""
    import threading
    import time

    from sqlalchemy.orm import Session

    from app.accounts import service as accounts
    from app.db import set_engine
    from tests.conftest import PASSWORD
    from tests.edits.factories import make_run
    from workers.tasks import fold_metric_rollups

    engine = committed_pg_engine
    set_engine(engine)  # the task's own session
    with Session(engine, expire_on_commit=False) as s:
        admin = accounts.create_user(s, email="rollup-admin@example.com", password=PASSWORD, is_site_admin=True)
        project = accounts.create_project(s, name="Rollups", actor=admin)
        doc = make_document(s, admin, project, text=TEXT)
        run = make_run(s, doc, [("Sentence 1", "Line 1")], status="running", user=admin)
        s.commit()
    writer = Session(engine)
    writer.execute(insert(Edit), [{"run_id": run.id, "version_id": run.version_id, "start": i, "end": i + 4,
                                   "original": TEXT[i:i + 4], "replacement": "z"} for i in range(0, 200, 10)])
    done: list = []

    def finish_run() -> None:
        with Session(engine) as s:
            s.execute(update(Run).where(Run.id == run.id).values(status="succeeded"))
            s.commit()
        done.append(True)

    status_change = threading.Thread(target=finish_run)
    status_change.start()
    time.sleep(0.5)
    assert not done  # waits for the edits' transaction
    writer.commit()
    writer.close()
    status_change.join(10)
    assert done
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(MetricEditDelta)) > 0
    assert fold_metric_rollups() > 0
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(MetricEditDelta)) == 0
        counts, _days = service.from_rows(s, project.id)
        assert _norm(service.edit_counts(s, project.id)) == _norm(counts)
        assert sum(r[-1] for r in counts if r[6] == "succeeded") == 21 == sum(r[-1] for r in counts)


def test_imports_keep_the_rollups_exact(db, site_admin, project, tmp_path):
    """app/imports writes runs, edits, decisions and events in batches of its own: the triggers
    count them as they come, with no hook in the import code."""
    from tests.imports.fixtures import import_file, small_log, write_jsonl

    job = import_file(db, actor=site_admin, project=project, path=write_jsonl(tmp_path / "log.jsonl", small_log()),
                      batch_lines=4)
    assert job.status == "succeeded", job.errors
    _check(db, project.id)
    assert sum(r[-1] for r in service.edit_counts(db, project.id)) == db.scalar(
        select(func.count()).select_from(Edit).join(Run).where(Run.project_id == project.id)) > 0
