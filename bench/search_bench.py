"""Benchmark of search over edits on PostgreSQL (not a test). Target (issue 12): the first page
over 1,000,000 edits in at most 200 ms.

Seeds a scratch database (bench/annotator_data.py), then times app.search.service.search (first
page, 50 hits; no count of the match set, the planner's estimate instead) for a few filters, next
to the same text search done with ILIKE (no index: a scan of every edit) in the same run. Drops
the database at the end.

    .venv/bin/python bench/search_bench.py [--edits 1000000] [--events 200000] [--rounds 5]
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
    p.add_argument("--edits", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    with scratch_database(args.server) as url:
        ids = seed(url, edits=args.edits, events=args.events)
        from sqlalchemy import create_engine, text
        from sqlalchemy.orm import Session

        from app.models import User
        from app.search import service

        engine = create_engine(url)
        cases = {
            "text, common word": service.SearchFilters(q="harbour"),
            "text, two words": service.SearchFilters(q="replace dolphin"),
            "text, absent word": service.SearchFilters(q="zeppelin"),
            "text + model + status": service.SearchFilters(q="glacier", model="openai/gpt-4o-mini",
                                                           status="rejected"),
            "intent + status, no text": service.SearchFilters(intent="style", status="modified"),
            "runs by text": service.SearchFilters(kind="runs", q="cactus"),
            "annotations by text": service.SearchFilters(kind="annotations", q="verify"),
            # Never together in the data (status and intent cycle with the edit id mod 4 and 6): a
            # planner assuming independence expects them after a few rows of a backward scan.
            "intent + status, none match": service.SearchFilters(intent="clarity", status="accepted"),
            "text + intent + status, none": service.SearchFilters(q="harbour", intent="clarity", status="accepted"),
        }
        print(f"\nsearch, first page of 50 (no count; estimate), {args.edits:,} edits:")
        print(f"{'case':30} {'best ms':>9} {'median ms':>10} {'hits':>6} {'total':>9}")
        with Session(engine) as s:
            annotator = s.get(User, ids["annotator_ids"][0])
            for name, f in cases.items():
                page = service.search(s, user=annotator, filters=f)
                best, median = best_ms(lambda f=f: service.search(s, user=annotator, filters=f), args.rounds)
                total = page.count if page.count is not None else f"~{page.estimate}"
                print(f"{name:30} {best:9.1f} {median:10.1f} {len(page.hits):6} {total:>9}")
            scan = text("SELECT id FROM edits WHERE (original || ' ' || replacement || ' ' || rationale) "
                        "ILIKE '%harbour%' ORDER BY id DESC LIMIT 51")
            best, median = best_ms(lambda: s.execute(scan).all(), args.rounds)
            print(f"{'baseline: ILIKE scan, 1 page':30} {best:9.1f} {median:10.1f}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
