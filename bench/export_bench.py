"""Benchmark of the events export on PostgreSQL (not a test).

Creates a scratch database, inserts N synthetic events with generate_series, then measures wall
time and peak RSS of the events export as JSONL and as Parquet, next to `COPY (SELECT ...) TO
STDOUT` of the same rows into a file, in the same run. Each measurement runs in its own
subprocess; peak RSS is that process's ru_maxrss (from wait4). Drops the database at the end.

    .venv/bin/python bench/export_bench.py [--server postgresql+psycopg://postgres@127.0.0.1/postgres]
                                           [--events 1000000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COPY_SQL = ("COPY (SELECT id, created_at, kind, actor_id, source, project_id, document_id, run_id, subject_kind, "
            "subject_id, ip, data FROM events ORDER BY id) TO STDOUT")


def _child_export(url: str, export_id: int) -> dict:
    from app.db import session_scope
    from app.exports import service
    from app.models import Export

    start = time.perf_counter()
    service.build_in_own_sessions(export_id)
    seconds = time.perf_counter() - start
    with session_scope() as session:
        export = session.get(Export, export_id)
        files = export.manifest["files"] if export.manifest else []
        return {"seconds": seconds, "status": export.status, "rows": export.rows_written, "error": export.error,
                "bytes": sum(f["bytes"] for f in files if f["table"] == "data")}


def _child_copy(url: str, out: str) -> dict:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    start = time.perf_counter()
    rows = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, open(out, "wb") as fh, cur.copy(COPY_SQL) as copy:
        for block in copy:
            fh.write(block)
            rows += 1
    return {"seconds": time.perf_counter() - start, "rows": rows, "bytes": os.path.getsize(out)}


def _measure_psql(url: str, out: Path) -> tuple[float, float, int]:
    """psql (a C client) running the same COPY into a file: (seconds, peak RSS MB, bytes)."""
    u = __import__("sqlalchemy.engine", fromlist=["make_url"]).make_url(url)
    cmd = ["psql", "-X", "-q", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres",
           "-d", u.database, "-c", COPY_SQL]
    start = time.perf_counter()
    with open(out, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh)
        _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit("psql failed")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out.stat().st_size


def _measure(args: list[str], env: dict) -> tuple[dict, float, float]:
    """Run this script in child mode; (its result, wall seconds of the process, peak RSS in MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, cwd=str(ROOT))
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"child {args} failed with status {status}")
    return json.loads(out), wall, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=os.environ.get("EMEND_BENCH_SERVER",
                                                          "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child-export", type=int)
    parser.add_argument("--child-copy")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child_export:
        print(json.dumps(_child_export(args.url, args.child_export)))
        return 0
    if args.child_copy:
        print(json.dumps(_child_copy(args.url, args.child_copy)))
        return 0

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"emend_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    workdir = Path(tempfile.mkdtemp(prefix="emend-bench-"))
    env = dict(os.environ, EMEND_DATABASE_URL=url, EMEND_EXPORT_DIR=str(workdir / "exports"),
               EMEND_SECRET_KEY="bench-secret")
    try:
        from app.cli import migrate

        migrate(url)
        engine = create_engine(url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            uid = conn.execute(text("INSERT INTO users (email, name, password_hash, is_site_admin, is_active, created_at) "
                                    "VALUES ('bench@example.com', 'Bench', 'x', true, true, now()) RETURNING id")).scalar()
            pid = conn.execute(text(
                "INSERT INTO projects (name, description, guidelines, model, temperature, max_tokens, timeout_seconds, "
                "max_retries, cache_enabled, max_depth, verify_threshold, segment_unit, auto_apply, shadow_user, "
                "share_documents, created_at) VALUES ('Bench', '', '', 'emend/offline-reviser', 0, 2048, 60, 3, true, "
                "3, 0.5, 'sentence', false, false, false, now()) RETURNING id")).scalar()
            conn.execute(text(
                "INSERT INTO events (created_at, kind, actor_id, source, project_id, subject_kind, subject_id, ip, data) "
                "SELECT timestamptz '2026-01-01 00:00:00+00' + g * interval '37 milliseconds', "
                "(ARRAY['edits.shown', 'edit.decided', 'run.created', 'auth.login'])[1 + g % 4], :uid, "
                "CASE WHEN g % 10 = 0 THEN 'ai' ELSE 'human' END, :pid, 'edit', g, '10.0.0.' || (g % 250), "
                "json_build_object('edit_ids', json_build_array(g, g + 1, g + 2), 'positions', json_build_array(0, 1, 2), "
                "'note', 'synthetic event number ' || g) "
                "FROM generate_series(1, :n) AS g"), {"uid": uid, "pid": pid, "n": args.events})
            conn.execute(text("ANALYZE events"))
        print(f"inserted {args.events:,} events in {time.perf_counter() - t0:.1f} s")

        def new_export(parquet: bool) -> int:
            options = {"jsonl": not parquet, "parquet": parquet, "gzip": False, "pseudonymise": False,
                       "source": "all", "flavour": "trl", "neutral_as": "false", "edit_level": True,
                       "licence": "unknown"}
            with engine.begin() as conn:
                return conn.execute(text(
                    "INSERT INTO exports (format, options, status, rows_written, rows_estimate, cancel_requested, "
                    "created_by_id, created_at) VALUES ('events', :o, 'queued', 0, :n, false, :uid, now()) "
                    "RETURNING id"), {"o": json.dumps(options), "n": args.events, "uid": uid}).scalar()

        # Rounds interleave the four measurements, so a busy moment on a shared machine hits all of
        # them alike; the table shows each one's median and the ratios of medians.
        samples: dict[str, list[tuple[float, float, float, int, int]]] = {}
        for _round in range(args.rounds):
            secs, rss, size = _measure_psql(url, workdir / "psql.tsv")
            samples.setdefault("COPY TO STDOUT via psql", []).append((secs, secs, rss, args.events, size))
            copy, copy_wall, copy_rss = _measure(["--child-copy", str(workdir / "copy.tsv"), "--url", url], env)
            samples.setdefault("COPY TO STDOUT via psycopg", []).append(
                (copy["seconds"], copy_wall, copy_rss, copy["rows"], copy["bytes"]))
            for label, parquet in (("events export, JSONL", False), ("events export, Parquet", True)):
                res, wall, rss = _measure(["--child-export", str(new_export(parquet)), "--url", url], env)
                assert res["status"] == "succeeded", res
                samples.setdefault(label, []).append((res["seconds"], wall, rss, res["rows"], res["bytes"]))
            for leftover in workdir.glob("*.tsv"):
                leftover.unlink()
            shutil.rmtree(workdir / "exports", ignore_errors=True)
        results = []
        for label, runs in samples.items():
            runs.sort()
            secs, wall, rss, rows, size = runs[len(runs) // 2]
            results.append((label, secs, wall, max(r[2] for r in runs), rows, size,
                            " ".join(f"{r[0]:.2f}" for r in runs)))
        psql_s, psycopg_s = results[0][1], results[1][1]
        print(f"\n{'median of ' + str(args.rounds) + ' rounds':28} {'work s':>8} {'process s':>10} {'peak RSS MB':>12} "
              f"{'rows':>10} {'MB':>8} {'× psql':>7} {'× psycopg':>10}  all work s")
        for label, secs, wall, rss, rows, size, every in results:
            print(f"{label:28} {secs:8.2f} {wall:10.2f} {rss:12.0f} {rows:10,} {size / 1e6:8.1f} "
                  f"{secs / psql_s:7.2f} {secs / psycopg_s:10.2f}  {every}")
        print("\nwork s: the copy or the export build alone; process s: the subprocess including Python start-up"
              " and imports; peak RSS: the highest of the rounds. Each export adds an export.finished event,"
              " so later rounds have a few more rows.")
    finally:
        admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
