"""Synthetic data for bench/search_bench.py and bench/metrics_bench.py (not a test).

A scratch PostgreSQL database, migrated, with one project, documents and versions made through
the ORM, then runs, edits, events, a 10,000-item queue with claims and labels inserted with
INSERT ... SELECT over generate_series (Python-side column defaults rendered in by
`from_select(include_defaults=True)`). Seeding runs with session_replication_role = replica
(triggers and foreign-key checks off, for speed only: every edit span is taken from its
version's text, so the guards would pass), then the metrics rollups are rebuilt from the rows.
"""
from __future__ import annotations

import os
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SERVER = os.environ.get("EMEND_BENCH_SERVER", "postgresql+psycopg://postgres@127.0.0.1/postgres")
WORDS = ["river", "team", "report", "market", "signal", "garden", "window", "budget", "letter", "engine", "winter", "market", "harbour", "forest", "teacher", "concert", "island", "ladder", "museum", "planet", "rocket", "silver", "thunder", "valley", "yellow", "basket", "cactus", "dolphin", "emerald", "falcon", "glacier", "horizon"]
MODELS = ("emend/offline-reviser", "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku")


@contextmanager
def scratch_database(server: str = DEFAULT_SERVER):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"emend_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _sentence(i: int) -> str:
    w = [WORDS[(i * k + 3) % len(WORDS)] for k in range(1, 13)]
    return f"The {w[0]} of the {w[1]} was {w[2]} and {w[3]}, so the {w[4]} met the {w[5]} near the {w[6]}."


def seed(url: str, *, edits: int, events: int, runs: int = 20_000, documents: int = 1_000,
         queue_items: int = 10_000) -> dict:
    """Fill the database; returns ids the benchmarks need."""
    os.environ["EMEND_DATABASE_URL"] = url
    from sqlalchemy import Integer, create_engine, func, insert, literal, literal_column, select, text
    from sqlalchemy.orm import Session

    from app.accounts import service as accounts
    from app.cli import migrate
    from app.models import (
        Annotation,
        Document,
        Edit,
        Event,
        Membership,
        Queue,
        QueueAssignee,
        QueueClaim,
        QueueItem,
        Run,
        User,
        Version,
    )

    migrate(url)
    engine = create_engine(url)
    t0 = time.perf_counter()
    with Session(engine) as s:
        admin = User(email="admin@bench", name="Admin", password_hash="x", is_site_admin=True)
        s.add(admin)
        s.flush()
        project = accounts.create_project(s, name="Bench", actor=admin)
        annotators = [User(email=f"a{i}@bench", name=f"Annotator {i}", password_hash="x") for i in range(3)]
        s.add_all(annotators)
        s.flush()
        s.add_all([Membership(project_id=project.id, user_id=u.id, role="annotator") for u in annotators])
        docs = [Document(project_id=project.id, owner_id=admin.id, title=f"Document {i}") for i in range(documents)]
        s.add_all(docs)
        s.flush()
        import hashlib

        versions = []
        for i, d in enumerate(docs):
            body = " ".join(_sentence(i * 7 + k) for k in range(8))
            versions.append(Version(document_id=d.id, number=1, depth=i % 4, text=body,
                                    text_sha256=hashlib.sha256(body.encode()).hexdigest()))
        s.add_all(versions)
        s.flush()
        for d, v in zip(docs, versions, strict=True):
            d.current_version_id = v.id
        queue = Queue(project_id=project.id, name="Bench queue", item_kind="run", overlap=2, blind=True,
                      filters={}, created_by_id=admin.id)
        s.add(queue)
        s.flush()
        s.add_all([QueueAssignee(queue_id=queue.id, user_id=u.id) for u in annotators])
        s.commit()
        ids = {"project_id": project.id, "admin_id": admin.id, "annotator_ids": [u.id for u in annotators],
               "queue_id": queue.id, "first_version": versions[0].id, "first_document": docs[0].id}

    v0, d0, pid, aid = ids["first_version"], ids["first_document"], ids["project_id"], ids["admin_id"]
    a_ids = ids["annotator_ids"]
    with engine.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))
        g = func.generate_series(1, runs).table_valued("value").render_derived(name="g")
        gv = g.c.value
        created = literal_column("timestamptz '2026-09-01 00:00:00+00'") + gv * literal_column("interval '389 seconds'")
        conn.execute(insert(Run).from_select(
            ["project_id", "document_id", "version_id", "model", "status", "feedback", "created_at", "finished_at",
             "created_by_id"],
            select(literal(pid), literal(d0) + gv % documents, literal(v0) + gv % documents,
                   literal_column(f"(ARRAY{list(MODELS)!r})[1 + value % 3]".replace('"', "'")),
                   literal("succeeded"),
                   func.concat("keep the ", literal_column(f"(ARRAY{WORDS!r})[1 + value % {len(WORDS)}]"
                                                           .replace('"', "'")), " plain"),
                   created, created + literal_column("interval '20 seconds'"), literal(aid)),
            include_defaults=True))
        first_run = conn.scalar(select(func.min(Run.id)))
        print(f"  runs {runs:,}: {time.perf_counter() - t0:.1f} s", flush=True)

        e = func.generate_series(1, edits).table_valued("value").render_derived(name="e")
        ev = e.c.value
        run_id = literal(first_run) + ev % runs
        # The run's version: the same modulo as above (run k has version v0 + k % documents).
        version_id = literal(v0) + (literal(first_run) + ev % runs - literal(first_run) + 1) % documents
        start = (ev * 37) % 600
        length = 4 + ev % 9
        status = literal_column("(ARRAY['accepted','modified','rejected','pending'])[1 + value % 4]")
        decided = literal_column("timestamptz '2026-09-01 00:00:00+00'") + ev * literal_column("interval '7 seconds'")
        word = literal_column(f"(ARRAY{WORDS!r})[1 + (value / 7) % {len(WORDS)}]".replace('"', "'"))
        conn.execute(insert(Edit).from_select(
            ["run_id", "version_id", "start", "end", "original", "replacement", "intent", "rationale", "status",
             "decided_by_id", "decided_at", "decision_source", "created_at"],
            select(run_id, version_id, start, start + length,
                   literal_column(f"substr((SELECT text FROM versions WHERE id = {v0} + ((value % {runs}) + 1) "
                                  f"% {documents}), (value * 37) % 600 + 1, 4 + value % 9)"),
                   word,
                   literal_column("(ARRAY['fluency','clarity','coherence','style','meaning-changed','other'])"
                                  "[1 + value % 6]"),
                   func.concat("Replace with ", word, " for flow"),
                   status, literal(a_ids[0]).cast(Integer), decided, literal("human"), decided),
            include_defaults=True))
        conn.execute(text("UPDATE edits SET decided_by_id = NULL, decided_at = NULL, decision_source = NULL "
                          "WHERE status = 'pending'"))
        print(f"  edits {edits:,}: {time.perf_counter() - t0:.1f} s", flush=True)

        # Queue: the first queue_items runs, each claimed and submitted by two annotators.
        conn.execute(insert(QueueItem).from_select(
            ["queue_id", "position", "run_id", "active_claims", "submitted_count", "has_room", "created_at"],
            select(literal(ids["queue_id"]), gv, literal(first_run) + gv, literal(2), literal(2), literal(False),
                   created)
            .where(gv <= queue_items), include_defaults=True))
        first_item = conn.scalar(select(func.min(QueueItem.id)))
        for k in range(2):
            uid = a_ids[k]
            conn.execute(insert(QueueClaim).from_select(
                ["item_id", "user_id", "claimed_at", "submitted_at"],
                select(literal(first_item) + gv - 1, literal(uid), created,
                       created + literal_column(f"interval '{30 + 15 * k} seconds'")).where(gv <= queue_items)))
            conn.execute(insert(Annotation).from_select(
                ["project_id", "user_id", "target_kind", "target_id", "step", "label", "comment", "queue_item_id",
                 "source", "created_at", "updated_at"],
                select(literal(pid), literal(uid), literal("run"), literal(first_run) + gv,
                       literal(0), literal_column(f"(value + {k} * (value % 5 = 0)::int) % 3 - 1"),
                       literal("checked the verify stage"), literal(first_item) + gv - 1, literal("human"),
                       created, created + literal_column(f"interval '{30 + 15 * k} seconds'"))
                .where(gv <= queue_items), include_defaults=True))
        print(f"  queue {queue_items:,} items: {time.perf_counter() - t0:.1f} s", flush=True)

        # Events: claim and submit events of the queue work, the rest a mix of the log's kinds.
        claims = 4 * queue_items
        n = func.generate_series(1, events).table_valued("value").render_derived(name="n")
        nv = n.c.value
        conn.execute(insert(Event).from_select(
            ["created_at", "kind", "actor_id", "source", "project_id", "subject_kind", "subject_id", "data"],
            select(literal_column("timestamptz '2026-09-01 00:00:00+00'")
                   + nv * literal_column("interval '2 seconds'"),
                   literal_column(f"CASE WHEN value <= {claims} THEN (ARRAY['queue.item_claimed',"
                                  f"'queue.item_submitted'])[1 + value % 2] ELSE (ARRAY['edits.shown',"
                                  "'edit.decided','run.created','annotation.saved'])[1 + value % 4] END"),
                   literal_column(f"CASE WHEN value <= {claims} THEN {a_ids[0]} + (value / 2) % 2 ELSE {aid} END"),
                   literal("human"), literal(pid),
                   literal_column(f"CASE WHEN value <= {claims} THEN 'queue_item' ELSE 'edit' END"),
                   literal_column(f"CASE WHEN value <= {claims} THEN {first_item} + (value / 4) % {queue_items} "
                                  "ELSE value END"),
                   literal_column("'{}'::json"))))
        print(f"  events {events:,}: {time.perf_counter() - t0:.1f} s", flush=True)
        # Replica mode kept the rollup triggers off too: count the rows as the triggers would have.
        from app.metrics import rollups

        rollups.rebuild(conn)
        print(f"  rollups rebuilt: {time.perf_counter() - t0:.1f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"  analysed: {time.perf_counter() - t0:.1f} s", flush=True)
    engine.dispose()
    return ids


def best_ms(fn, rounds: int) -> tuple[float, float]:
    """(best, median) wall milliseconds of `fn` over `rounds` calls after one warm-up call."""
    import statistics

    fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times), statistics.median(times)
