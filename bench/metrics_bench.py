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
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
