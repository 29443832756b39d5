"""Import throughput and memory (issue 11; not a test).

Writes a log of --decisions decisions (documents of --edits edits on one version each, every edit
decided, every third shown) and imports it with the job's own code path (`run_import`, a
transaction per batch) into a new database (PostgreSQL by default, `--sqlite` for the embedded
one). Reported: records and decisions per second, and the process's resident memory after 10 %
of the file and at the end (memory is flat when the two are close: the file is streamed and the
caches are bounded). A second import of the same file (idempotent: adds nothing) is timed too.
The baseline, measured in the same run, reads the file and appends one event row per line in the
same batches with `events.record_many` (an ORM executemany): `import_vs_baseline` is the import's
time over the baseline's, a yardstick of the machine's speed at that moment. `peak_rss_mb` is the
process's high-water mark (compare a 10,000- and a 100,000-decision run). Targets: >= 2,000
records/s; end RSS within 1.2x of the 10 % RSS.

    .venv/bin/python bench/import_bench.py [--decisions 100000] [--edits 10] [--sqlite]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCE = "Teh cat sat on the the mat and it was very very happy. "


def write_log(path: Path, decisions: int, per_doc: int) -> int:
    lines = 0
    with open(path, "w", encoding="utf-8") as fh:
        for d in range(decisions // per_doc):
            text = f"Document {d}. " + SENTENCE * per_doc
            base = len(f"Document {d}. ")
            out = [{"type": "document", "id": f"d{d}", "title": f"Document {d}", "owner": f"writer{d % 50}"},
                   {"type": "version", "id": f"v{d}", "document": f"d{d}", "depth": 0, "text": text}]
            for k in range(per_doc):
                start = base + k * len(SENTENCE)
                edit = {"type": "edit", "id": f"e{d}-{k}", "version": f"v{d}", "start": start, "end": start + 3,
                        "original": "Teh", "replacement": "The", "intent": "fluency", "model": f"model-{d % 3}",
                        "confidence": 0.8}
                if k % 3 == 0:
                    edit["shown_position"] = k
                out.append(edit)
            for k in range(per_doc):
                out.append({"type": "decision", "id": f"x{d}-{k}", "edit": f"e{d}-{k}",
                            "decision": ("accepted", "rejected", "modified")[k % 3],
                            "replacement": "A" if k % 3 == 2 else None, "person": f"writer{d % 50}",
                            "at": "2026-01-02T10:00:00Z"})
            for record in out:
                fh.write(json.dumps(record) + "\n")
                lines += 1
    return lines


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--edits", type=int, default=10, help="edits (and decisions) per document")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--server", default=os.environ.get("EMEND_TEST_DATABASE_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="emend-import-bench-"))
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from tests.conftest import create_postgres_database, drop_postgres_database

    url = f"sqlite:///{workdir / 'bench.db'}" if args.sqlite else create_postgres_database(args.server,
                                                                                           prefix="emend_bench")
    os.environ["EMEND_DATABASE_URL"] = url
    os.environ["EMEND_EXPORT_DIR"] = str(workdir / "exports")
    try:
        from app.accounts import service as accounts
        from app.cli import migrate
        from app.config import get_settings
        from app.db import SessionLocal, get_engine, session_scope
        from app.imports import service

        get_settings.cache_clear()
        migrate(url)
        get_engine()
        path = workdir / "log.jsonl"
        lines = write_log(path, args.decisions, args.edits)
        with session_scope() as s:
            admin = accounts.create_user(s, email="admin@bench.test", password="bench-password", is_site_admin=True)
            project = accounts.create_project(s, name="Bench", actor=admin)
            ids = [service.create_import(s, actor=admin, project_id=project.id, filename="log.jsonl",
                                         source_path=path, enqueue=False).id for _ in range(2)]
        samples: list[tuple[float, float]] = []
        original = service._import_one_batch

        def measured(factory, import_id, batch):
            original(factory, import_id, batch)
            samples.append((batch[-1].number / lines, rss_mb()))

        service._import_one_batch = measured
        started = time.monotonic()
        job = service.run_import(ids[0], session_factory=SessionLocal)
        first = time.monotonic() - started
        started = time.monotonic()
        again = service.run_import(ids[1], session_factory=SessionLocal)
        second = time.monotonic() - started
        assert job.status == "succeeded" and job.error_count == 0, job.errors[:3]
        assert again.records_added == 0 and again.records_skipped == job.records_added
        # Baseline in the same run (the machine's speed now): read the file with json.loads and append one
        # event row per line in batches of the same size — the least any import of these lines could do.
        from app.events import service as events

        started = time.monotonic()
        with session_scope() as s, open(path, encoding="utf-8") as fh:
            batch = []
            for line in fh:
                record = json.loads(line)
                batch.append(events.event_values(s, kind="bench.baseline", project_id=project.id,
                                                 data={"id": record["id"]}))
                if len(batch) >= service.BATCH_LINES:
                    events.record_many(s, batch)
                    s.commit()
                    batch = []
            events.record_many(s, batch)
        baseline = time.monotonic() - started
        early = next(m for share, m in samples if share >= 0.1)
        end = samples[-1][1]
        result = {
            "backend": "sqlite" if args.sqlite else "postgresql", "lines": lines, "decisions": args.decisions,
            "records_added": job.records_added, "seconds": round(first, 2),
            "records_per_second": round(job.records_added / first), "decisions_per_second":
                round(args.decisions / first), "reimport_seconds": round(second, 2),
            "reimport_lines_per_second": round(lines / second), "rss_mb_at_10_percent": round(early, 1),
            "rss_mb_at_end": round(end, 1), "rss_growth": round(end / early, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "baseline_lines_per_second": round(lines / baseline), "import_vs_baseline": round(first / baseline, 2),
        }
        print(json.dumps(result, indent=2))
        ok = result["records_per_second"] >= 2000 and result["rss_growth"] <= 1.2
        print("target met" if ok else "TARGET MISSED")
        return 0 if ok else 1
    finally:
        from app.db import get_engine as _engine

        _engine().dispose()
        if not args.sqlite:
            drop_postgres_database(args.server, url)


if __name__ == "__main__":
    sys.exit(main())
