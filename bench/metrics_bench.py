"""Benchmark of the metrics and dashboards on PostgreSQL (not a test). Target (issue 12): at most
300 ms server time over 1,000,000 events.

Seeds a scratch database (bench/annotator_data.py: 1,000,000 events, edits, a 10,000-item queue
done twice), then times app.metrics.service.project_metrics with its charts, and
app.metrics.dashboards.project_dashboards, next to `SELECT count(*) FROM edits` (one scan of the
edits) in the same run. Drops the database at the end.

    .venv/bin/python bench/metrics_bench.py [--events 1000000] [--edits 300000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.annotator_data import DEFAULT_SERVER, best_ms, scratch_database, seed


def write_cost(s) -> None:
    """What the rollup triggers add to writing: 500 single-edit decisions (a statement each) and
    one UPDATE of 10,000 edits, with the triggers and with them off (replica role), rolled back."""
    import time

    from sqlalchemy import text

    print(f"\n{'writes (rolled back)':40} {'triggers ms':>12} {'off ms':>9}")
    ids = list(s.scalars(text("SELECT id FROM edits ORDER BY id DESC LIMIT 10000")))
    decide = "UPDATE edits SET status = 'rejected', decision_source = 'human', decided_at = now() WHERE id = :i"
    bulk = "UPDATE edits SET status = 'accepted', decision_source = 'human', decided_at = now() WHERE id >= :lo"
    for name, statements in (("500 decisions, one statement each", [(decide, {"i": i}) for i in ids[:500]]),
                             ("one UPDATE of 10,000 edits", [(bulk, {"lo": ids[-1]})])):
        times = []
        for role in ("replica", "origin"):  # off first: it warms the cache for the measured one
            s.execute(text(f"SET session_replication_role = {role}"))
            t = time.perf_counter()
            for sql, params in statements:
                s.execute(text(sql), params)
            times.append((time.perf_counter() - t) * 1000)
            s.rollback()
        print(f"{name:40} {times[1]:12.1f} {times[0]:9.1f}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--server", default=DEFAULT_SERVER)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--edits", type=int, default=300_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    with scratch_database(args.server) as url:
        ids = seed(url, edits=args.edits, events=args.events)
        from sqlalchemy import create_engine, text
        from sqlalchemy.orm import Session

        from app.metrics import dashboards, service
        from app.metrics.pages import metrics_charts
        from app.models import User

        engine = create_engine(url)
        with Session(engine) as s:
            admin = s.get(User, ids["admin_id"])
            pid = ids["project_id"]

            def metrics():
                metrics_charts(service.project_metrics(s, user=admin, project_id=pid))

            def board():
                dashboards.project_dashboards(s, user=admin, project_id=pid)

            print(f"\n{args.events:,} events, {args.edits:,} edits, 10,000-item queue with overlap 2:")
            print(f"{'what':40} {'best ms':>9} {'median ms':>10}")
            for name, fn in (("metrics (all breakdowns + charts)", metrics), ("dashboards", board),
                             ("baseline: SELECT count(*) FROM edits", lambda: s.execute(
                                 text("SELECT count(*) FROM edits")).scalar())):
                best, median = best_ms(fn, args.rounds)
                print(f"{name:40} {best:9.1f} {median:10.1f}")
            write_cost(s)
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
