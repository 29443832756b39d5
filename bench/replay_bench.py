"""Replay throughput against a slow model (issue 11; not a test).

Imports --versions logged versions (one document each, two decided edits) into a new database,
then replays a candidate on them through the real gateway (litellm HTTP, response cache on)
against the fake OpenAI-compatible model of tests/fakes/openai_server.py answering after
--latency seconds, with EMEND_MODEL_CONCURRENCY=--concurrency. Each version costs two model
calls (critique, then propose; the model proposes nothing, so verify is skipped).

Reported: the job's wall time against the ideal measured in the same run — the model-busy
seconds (the sum of the answers' durations the server recorded) divided by the concurrency —
and the model's utilisation. Target: wall <= 1.3 x ideal.

    .venv/bin/python bench/replay_bench.py [--versions 1000] [--concurrency 8] [--latency 0.5] [--sqlite]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_log(path: Path, versions: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for n in range(versions):
            text = f"Teh report number {n} was was late."
            fh.writelines(json.dumps(record) + "\n" for record in (
                {"type": "document", "id": f"d{n}", "owner": "writer@bench.test"},
                {"type": "version", "id": f"v{n}", "document": f"d{n}", "depth": 0, "text": text},
                {"type": "edit", "id": f"e{n}a", "version": f"v{n}", "start": 0, "end": 3, "original": "Teh",
                 "replacement": "The", "intent": "fluency", "model": "logged-model", "shown_position": 0},
                {"type": "edit", "id": f"e{n}b", "version": f"v{n}", "start": text.index("was was"),
                 "end": text.index("was was") + 7, "original": "was was", "replacement": "was",
                 "intent": "fluency", "model": "logged-model", "shown_position": 1},
                {"type": "decision", "id": f"x{n}a", "edit": f"e{n}a", "decision": "accepted",
                 "person": "writer@bench.test"},
                {"type": "decision", "id": f"x{n}b", "edit": f"e{n}b", "decision": "rejected",
                 "person": "writer@bench.test"},
            ))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--threads-per-slot", type=int, default=None,
                        help="the job's threads per model slot (default: the service's own)")
    parser.add_argument("--server", default=os.environ.get("EMEND_TEST_DATABASE_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="emend-replay-bench-"))
    from bench.run_bench import peak_in_flight
    from tests.conftest import create_postgres_database, drop_postgres_database
    from tests.fakes.openai_server import FakeOpenAIServer, chat_reply

    def answer(payload: dict):
        system = (payload.get("messages") or [{}])[0].get("content", "")
        reply = chat_reply('{"critiques": []}' if "TASK: critique" in system else '{"edits": []}')
        reply.delay = args.latency
        return reply

    url = f"sqlite:///{workdir / 'bench.db'}" if args.sqlite else create_postgres_database(args.server,
                                                                                           prefix="emend_bench")
    with FakeOpenAIServer(responder=answer) as model:
        os.environ.update({"EMEND_DATABASE_URL": url, "EMEND_BROKER_URL": f"sqla+sqlite:///{workdir / 'b.db'}",
                           "EMEND_MODEL_API_BASE": model.base_url, "EMEND_MODEL_API_KEY": "sk-bench",
                           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "EMEND_EXPORT_DIR": str(workdir),
                           "EMEND_MODEL_CONCURRENCY": str(args.concurrency)})
        try:
            from app.accounts import service as accounts
            from app.cli import migrate
            from app.config import get_settings
            from app.db import SessionLocal, get_engine, session_scope
            from app.imports import service as imports
            from app.llm import gateway
            from app.replays import service as replays

            get_settings.cache_clear()
            migrate(url)
            get_engine()
            gateway.warm_up()
            log = workdir / "log.jsonl"
            write_log(log, args.versions)
            with session_scope() as s:
                admin = accounts.create_user(s, email="admin@bench.test", password="bench-password",
                                             is_site_admin=True)
                project = accounts.create_project(s, name="Bench", actor=admin, max_retries=0, timeout_seconds=60)
                job_id = imports.create_import(s, actor=admin, project_id=project.id, filename="log.jsonl",
                                               source_path=log, enqueue=False).id
            imports.run_import(job_id, session_factory=SessionLocal)
            with session_scope() as s:
                replay_id = replays.create_replay(s, actor=admin, project_id=project.id, model="openai/fake-model",
                                                  enqueue=False).id
            # One call first: litellm's per-model capability lookups (seconds, once per process) are
            # start-up, paid by a worker's first run whatever it is, not the replay's throughput.
            gateway.complete([{"role": "system", "content": "TASK: critique"}, {"role": "user", "content": "x"}],
                             gateway.ModelSettings(model="openai/fake-model", api_base=model.base_url, cache=False),
                             json_schema={"type": "object"})
            model.timings.clear()
            # The job's own thread between calls: loading versions and storing results (serial work).
            serial = {"inputs": 0.0, "store": 0.0}

            def timed(name, fn):
                def wrapper(*a, **k):
                    t = time.monotonic()
                    try:
                        return fn(*a, **k)
                    finally:
                        serial[name] += time.monotonic() - t
                return wrapper

            if args.threads_per_slot:
                replays.THREADS_PER_SLOT = args.threads_per_slot
            replays._inputs = timed("inputs", replays._inputs)
            replays._store = timed("store", replays._store)
            started = time.monotonic()
            done = replays.run_replay(replay_id, session_factory=SessionLocal)
            ended = time.monotonic()
            wall = ended - started
        finally:
            get_engine().dispose()
            if not args.sqlite:
                drop_postgres_database(args.server, url)
        timings = list(model.timings)
    busy = sum(b - a for a, b in timings)
    ideal = busy / args.concurrency
    result = {"backend": "sqlite" if args.sqlite else "postgresql", "versions": done.versions_done,
              "failed": done.versions_failed, "status": done.status, "model_calls": len(timings),
              "concurrency": args.concurrency, "threads_per_slot": replays.THREADS_PER_SLOT, "latency": args.latency,
              "wall_seconds": round(wall, 2),
              "ideal_seconds": round(ideal, 2), "wall_over_ideal": round(wall / ideal, 3) if ideal else None,
              "utilisation": round(busy / (args.concurrency * wall), 3) if wall else None,
              # Before the first request (loading the slice) and after the last answer (scoring).
              "before_first_call_seconds": round(min(a for a, _ in timings) - started, 2) if timings else None,
              "after_last_answer_seconds": round(ended - max(b for _, b in timings), 2) if timings else None,
              "job_thread_loading_seconds": round(serial["inputs"], 2),
              "job_thread_storing_seconds": round(serial["store"], 2),
              "peak_in_flight": peak_in_flight(timings),
              "match_rate": (done.results or {}).get("overall", {}).get("match_rate")}
    print(json.dumps(result, indent=2))
    ok = done.status == "succeeded" and not done.versions_failed and result["wall_over_ideal"] <= 1.3
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
