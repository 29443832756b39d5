"""Queue flow benchmark (issue 12, target: the next item visible ≤ 50 ms after submit, prefetched,
PostgreSQL, a queue of 10,000 items). Not a test.

A scratch PostgreSQL database holds one project, 10,000 finished runs (each with its three stages,
a critique and three edits, cloned from one made by the test factory) and a queue of all of them
(overlap 1). The first 9,000 items are already done (half by this annotator, with their labels:
a history of 4,500 claims and 18,000 annotations; half by another), so a "next item" query that walked
the queue in order would pass 9,000 items before the first free one.

The app runs in-process (Starlette's TestClient, so the time of a request is the server's time
plus a fraction of a millisecond of ASGI plumbing, the same for the baseline). One annotator
labels (not timed) and submits items, two ways:
- without prefetch: POST submit → HX-Redirect, then GET /queues/Q/next (the full page);
- with prefetch: POST submit carrying the prefetched item (204 + the event; the critical path:
  the page then swaps in HTML it already holds), and POST /queues/Q/prefetch for the following
  item (rendered while the annotator works, off the critical path).
Baseline in the same run: GET /account/shortcuts (a trivial signed-in page). Also prints the
plan (EXPLAIN ANALYZE) of the next-item query.

    .venv/bin/python bench/queue_bench.py [--items 10000] [--done 9000] [--rounds 150]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.annotator_data import DEFAULT_SERVER, scratch_database


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def clone_runs(conn, first_run: int, copies: int) -> None:
    """`copies` more runs like `first_run`, with its stages, critiques and edits."""
    from sqlalchemy import text

    def cols(table: str, skip: set[str]) -> list[str]:
        rows = conn.execute(text("SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                                 "ORDER BY ordinal_position"), {"t": table}).scalars()
        return [c for c in rows if c not in skip]

    run_cols = cols("runs", {"id"})
    q = ", ".join(f'"{c}"' for c in run_cols)
    conn.execute(text(f"INSERT INTO runs ({q}) SELECT {q} FROM runs, generate_series(1, :n) "
                      f"WHERE runs.id = :r"), {"n": copies, "r": first_run})
    stage_cols = cols("stages", {"id", "run_id"})
    q = ", ".join(f's."{c}"' for c in stage_cols)
    conn.execute(text(f"INSERT INTO stages (run_id, {', '.join(chr(34) + c + chr(34) for c in stage_cols)}) "
                      f"SELECT r.id, {q} FROM runs r JOIN stages s ON s.run_id = :r WHERE r.id <> :r"),
                 {"r": first_run})
    for table in ("critiques", "edits"):
        c_cols = cols(table, {"id", "run_id", "stage_id"})
        q = ", ".join(f'x."{c}"' for c in c_cols)
        conn.execute(text(
            f"INSERT INTO {table} (run_id, stage_id, {', '.join(chr(34) + c + chr(34) for c in c_cols)}) "
            f"SELECT r.id, s2.id, {q} FROM runs r JOIN {table} x ON x.run_id = :r "
            f"JOIN stages s1 ON s1.id = x.stage_id JOIN stages s2 ON s2.run_id = r.id AND s2.position = s1.position "
            f"WHERE r.id <> :r"), {"r": first_run})


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--server", default=DEFAULT_SERVER)
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--done", type=int, default=9_000)
    p.add_argument("--rounds", type=int, default=150)
    args = p.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with scratch_database(args.server) as url:
        os.environ["EMEND_DATABASE_URL"] = url
        from sqlalchemy import create_engine, text
        from sqlalchemy.orm import Session
        from starlette.testclient import TestClient

        from app.accounts import service as accounts
        from app.cli import migrate
        from app.config import get_settings
        from app.main import create_app
        from app.models import Queue, QueueAssignee
        from tests.annotations.factories import make_document, make_run
        from tests.conftest import PASSWORD, csrf_token

        get_settings.cache_clear()
        migrate(url)
        engine = create_engine(url)
        t0 = time.perf_counter()
        with Session(engine) as s:
            admin = accounts.create_user(s, email="admin@bench.example", password=PASSWORD, is_site_admin=True)
            ann = accounts.create_user(s, email="ann@bench.example", password=PASSWORD, name="Ann")
            other = accounts.create_user(s, email="bo@bench.example", password=PASSWORD, name="Bo")
            project = accounts.create_project(s, name="Bench", actor=admin,
                                              guidelines="Prefer plain words. Keep the author's voice.")
            for u in (ann, other):
                accounts.set_member(s, project=project, user=u, role="annotator", actor=admin)
            writer = accounts.create_user(s, email="w@bench.example", password=PASSWORD)
            accounts.set_member(s, project=project, user=writer, role="writer", actor=admin)
            document = make_document(s, writer, project)
            first = make_run(s, document)
            queue = Queue(project_id=project.id, name="Bench queue", item_kind="run", overlap=1,
                          claim_timeout_seconds=1800, blind=True, filters={}, instructions="Label every stage.",
                          created_by_id=admin.id)
            s.add(queue)
            s.flush()
            s.add_all([QueueAssignee(queue_id=queue.id, user_id=u.id) for u in (ann, other)])
            s.commit()
            ids = {"project": project.id, "queue": queue.id, "ann": ann.id, "other": other.id, "first": first.id}
        with engine.begin() as conn:
            clone_runs(conn, ids["first"], args.items - 1)
            conn.execute(text(
                "INSERT INTO queue_items (queue_id, position, run_id, active_claims, submitted_count, has_room, "
                "created_at) SELECT :q, row_number() OVER (ORDER BY id) - 1, id, 0, 0, true, now() "
                "FROM runs WHERE project_id = :p"), {"q": ids["queue"], "p": ids["project"]})
            # The first `done` items: submitted, every other one by this annotator (with a label on
            # the run, so their history of claims and annotations is thousands of rows), the rest
            # by another annotator.
            conn.execute(text("UPDATE queue_items SET active_claims = 1, submitted_count = 1, has_room = false "
                              "WHERE queue_id = :q AND position < :d"), {"q": ids["queue"], "d": args.done})
            conn.execute(text(
                "INSERT INTO queue_claims (item_id, user_id, claimed_at, submitted_at) SELECT id, "
                "CASE WHEN position % 2 = 0 THEN :a ELSE :o END, now() - interval '1 day', now() - interval '1 day' "
                "FROM queue_items WHERE queue_id = :q AND position < :d"),
                {"a": ids["ann"], "o": ids["other"], "q": ids["queue"], "d": args.done})
            conn.execute(text(
                "INSERT INTO annotations (project_id, user_id, target_kind, target_id, step, label, comment, source, "
                "queue_item_id, created_at, updated_at) SELECT :p, :a, 'run', run_id, 0, 1, '', 'human', id, "
                "now() - interval '1 day', now() - interval '1 day' FROM queue_items "
                "WHERE queue_id = :q AND position < :d AND position % 2 = 0"),
                {"p": ids["project"], "a": ids["ann"], "q": ids["queue"], "d": args.done})
            conn.execute(text(
                "INSERT INTO annotations (project_id, user_id, target_kind, target_id, step, label, comment, source, "
                "queue_item_id, created_at, updated_at) SELECT :p, :a, 'stage', stages.id, 0, -1, 'vague', 'human', "
                "queue_items.id, now() - interval '1 day', now() - interval '1 day' FROM queue_items "
                "JOIN stages ON stages.run_id = queue_items.run_id "
                "WHERE queue_id = :q AND queue_items.position < :d AND queue_items.position % 2 = 0"),
                {"p": ids["project"], "a": ids["ann"], "q": ids["queue"], "d": args.done})
            conn.execute(text("ANALYZE"))
            n_items = conn.scalar(text("SELECT count(*) FROM queue_items WHERE queue_id = :q"), {"q": ids["queue"]})
        print(f"seeded {n_items:,} queue items ({args.done:,} done, half by this annotator) "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)

        with engine.connect() as conn:
            plan = conn.execute(text(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT queue_items.id FROM queue_items WHERE "
                "queue_items.queue_id = :q AND queue_items.has_room AND NOT (EXISTS (SELECT queue_claims.id "
                "FROM queue_claims WHERE queue_claims.item_id = queue_items.id AND queue_claims.user_id = :u "
                "AND queue_claims.released_at IS NULL)) ORDER BY queue_items.position LIMIT 50"),
                {"q": ids["queue"], "u": ids["ann"]}).scalars().all()
        print("next-item query plan:\n  " + "\n  ".join(plan), flush=True)
        with engine.connect() as conn:  # the same query as it was before has_room (for comparison)
            before = conn.execute(text(
                "EXPLAIN (ANALYZE, COSTS OFF) SELECT queue_items.id FROM queue_items WHERE "
                "queue_items.queue_id = :q AND queue_items.active_claims < 1 AND NOT (EXISTS (SELECT "
                "queue_claims.id FROM queue_claims WHERE queue_claims.item_id = queue_items.id AND "
                "queue_claims.user_id = :u AND queue_claims.released_at IS NULL)) ORDER BY queue_items.position "
                "LIMIT 50"), {"q": ids["queue"], "u": ids["ann"]}).scalars().all()
        print("  before (active_claims < overlap):\n    "
              + "\n    ".join(line for line in before if "Removed" in line or "Execution" in line or " Scan " in line),
              flush=True)
        # The submit's look-up of the annotator's labels on the item (queues.submit_item).
        from sqlalchemy import select, union_all

        from app.annotations.queues import item_target_parts
        from app.models import Annotation, QueueItem
        with Session(engine) as s:
            free = s.scalar(select(QueueItem).where(QueueItem.queue_id == ids["queue"], QueueItem.has_room)
                            .order_by(QueueItem.position).limit(1))
            query = union_all(*[select(Annotation.id).where(Annotation.user_id == ids["ann"], part)
                                for part in item_target_parts(free)])
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = s.execute(text("EXPLAIN (ANALYZE, COSTS OFF) " + sql)).scalars().all()
        print("submit's labels-on-the-item query plan:\n  " + "\n  ".join(plan), flush=True)
        with Session(engine) as s:  # as it was before: one OR over every kind of target
            from sqlalchemy import or_

            from app.annotations.queues import item_targets_clause
            old = select(Annotation.id).where(Annotation.user_id == ids["ann"], or_(
                Annotation.queue_item_id == free.id, item_targets_clause(free)))
            sql = str(old.compile(engine, compile_kwargs={"literal_binds": True}))
            before = s.execute(text("EXPLAIN (ANALYZE, COSTS OFF) " + sql)).scalars().all()
        print("  before (one OR):\n    " + "\n    ".join(
            line for line in before if "Removed" in line or "Execution" in line or line.lstrip().startswith("Seq")
            or "on annotations" in line), flush=True)

        app = create_app()
        client = TestClient(app, base_url="http://testserver")
        client.__enter__()
        try:
            r = client.post("/login", data={"email": "ann@bench.example", "password": PASSWORD, "next": "/"},
                            headers={"x-csrftoken": csrf_token(client)}, follow_redirects=False)
            assert r.status_code == 303, r.text
            client.headers["x-csrftoken"] = csrf_token(client)
            hx = {"HX-Request": "true"}
            q = ids["queue"]

            def timed(method: str, path: str, **kwargs):
                t = time.perf_counter()
                out = client.request(method, path, **kwargs)
                return out, (time.perf_counter() - t) * 1000

            def label(item_id: int) -> None:
                run_id = int(client.get(f"/api/v1/queues/{q}/next").json()["item"]["run_id"])
                r = client.post("/annotations", headers=hx, data={"target_kind": "run", "target_id": str(run_id),
                                                                   "label": "1", "queue_item_id": str(item_id)})
                assert r.status_code == 200, r.text

            def current() -> int:
                return int(client.get(f"/api/v1/queues/{q}/next").json()["item"]["item_id"])

            for _ in range(20):  # warm-up
                client.get("/account/shortcuts")
            base = [timed("GET", "/account/shortcuts")[1] for _ in range(args.rounds)]

            plain_submit, plain_next = [], []
            client.get(f"/queues/{q}/next")
            for _ in range(args.rounds):
                item = current()
                label(item)
                r, ms = timed("POST", f"/queues/{q}/items/{item}/submit", headers=hx)
                assert r.status_code == 200 and r.headers.get("HX-Redirect"), r.text
                plain_submit.append(ms)
                r, ms = timed("GET", f"/queues/{q}/next")
                assert r.status_code == 200 and 'id="queue-item"' in r.text
                plain_next.append(ms)

            pre_submit, pre_fetch = [], []
            item = current()
            r = client.post(f"/queues/{q}/prefetch?after={item}", headers=hx)
            kept = int(r.headers["X-Queue-Item"])
            for _ in range(args.rounds):
                label(item)
                r, ms = timed("POST", f"/queues/{q}/items/{item}/submit", headers=hx, data={"prefetched": str(kept)})
                assert r.status_code == 204, r.text
                pre_submit.append(ms)
                item = kept
                r, ms = timed("POST", f"/queues/{q}/prefetch?after={item}", headers=hx)
                assert r.status_code == 200, r.text
                kept = int(r.headers["X-Queue-Item"])
                pre_fetch.append(ms)
            size = len(r.content)
        finally:
            client.__exit__(None, None, None)
            engine.dispose()

    b50 = statistics.median(base)
    rows = [
        ("baseline: GET /account/shortcuts", base),
        ("no prefetch: submit", plain_submit),
        ("no prefetch: GET /next (full page)", plain_next),
        ("no prefetch: submit + next", [a + b for a, b in zip(plain_submit, plain_next)]),
        ("prefetched: submit → next visible (critical path)", pre_submit),
        ("prefetched: prefetch of the following (off the path)", pre_fetch),
    ]
    print(f"\n{args.rounds} rounds each, queue of {n_items:,} items, server time in ms (in-process)")
    print(f"{'':56} {'p50':>7} {'p99':>7} {'p50/base':>9} {'p99/base':>9}")
    for name, values in rows:
        print(f"{name:56} {statistics.median(values):7.1f} {pct(values, 0.99):7.1f} "
              f"{statistics.median(values) / b50:9.1f} {pct(values, 0.99) / b50:9.1f}")
    print(f"prefetched fragment: {size / 1024:.1f} KB of HTML")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
