"""How busy runs keep a slow model (not a test).

A slow OpenAI-compatible model on 127.0.0.1 (every answer takes --latency seconds; the content is
the offline reviser's answer to the same prompt) serves a real Celery worker with --concurrency
threads and EMEND_MODEL_CONCURRENCY=--concurrency: the model's concurrency limit. --runs runs are started at once on PostgreSQL with the
Redis broker (or the embedded SQLite broker with --broker embedded), and the model's side records
when each request arrived and was answered. --threads 8 with --concurrency 8 shows the worker
without spare threads (each thread idles the model while it does a stage's database work).

Reported: utilisation = model-busy seconds / (limit × wall seconds from the first request to the
last answer), over the whole batch and over its middle 80 % (without the start-up and drain tails),
and the wall time against the ideal (model-busy seconds / limit) measured in the same run.
Target: >= 90 %.

    .venv/bin/python bench/model_concurrency.py [--runs 64] [--concurrency 8] [--latency 0.5]
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

TEXT = ("Their are several reasons why the the results was not not published. In order to understand "
        "them, we must first consider a example from the first study. Due to the fact that the data "
        "were collected by hand, mistakes was made.")


def busy_seconds(timings: list[tuple[float, float]], start: float, end: float) -> float:
    """Model-busy seconds inside [start, end]: the sum over requests of their overlap with it."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in timings)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=os.environ.get("EMEND_TEST_DATABASE_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    parser.add_argument("--redis", default=os.environ.get("EMEND_TEST_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--broker", choices=("redis", "embedded"), default="redis")
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8, help="the model's limit (EMEND_MODEL_CONCURRENCY)")
    parser.add_argument("--threads", type=int, help="worker threads (default: twice the limit, as `emend worker`)")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the model takes per answer")
    args = parser.parse_args()

    from app.llm import reviser as offline
    from tests.conftest import create_postgres_database, drop_postgres_database
    from tests.fakes.openai_server import FakeOpenAIServer, Scripted, chat_reply
    from tests.helpers import output, start_worker, stop_process

    def slow_answer(payload: dict) -> Scripted:
        reply = chat_reply(offline.respond(payload.get("messages", [])))
        reply.delay = args.latency
        return reply

    url = create_postgres_database(args.server, prefix="emend_bench")
    workdir = Path(tempfile.mkdtemp(prefix="emend-bench-"))
    if args.broker == "redis":
        import redis

        redis.Redis.from_url(args.redis).flushdb()
        broker = args.redis
    else:
        broker = f"sqla+sqlite:///{workdir / 'broker.db'}"
    worker = None
    with FakeOpenAIServer(responder=slow_answer) as model:
        env = {"EMEND_DATABASE_URL": url, "EMEND_BROKER_URL": broker, "EMEND_MODEL_API_BASE": model.base_url,
               "EMEND_MODEL_API_KEY": "sk-bench", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "EMEND_MODEL_CONCURRENCY": str(args.concurrency)}
        os.environ.update(env)
        from sqlalchemy import func, select

        from app.accounts import service as accounts
        from app.cli import migrate
        from app.config import get_settings
        from app.db import session_scope
        from app.documents import service as documents
        from app.models import Run, User
        from app.runs import service as runs

        get_settings.cache_clear()
        try:
            migrate(url)
            with session_scope() as s:
                admin = accounts.create_user(s, email="admin@bench.test", password="bench-password",
                                             is_site_admin=True)
                writer = accounts.create_user(s, email="writer@bench.test", password="bench-password")
                project = accounts.create_project(s, name="Bench", actor=admin, model="openai/slow-model",
                                                  cache_enabled=False, max_retries=0, timeout_seconds=60, max_depth=1)
                accounts.set_member(s, project=project, user=writer, role="writer", actor=admin)
                document_ids = [documents.create_document(s, project_id=project.id, title=f"Document {n}",
                                                          text=f"{TEXT} (Copy {n}.)", actor=writer).id
                                for n in range(args.runs)]
                writer_id = writer.id
            worker = start_worker(env, concurrency=args.threads or 2 * args.concurrency, log_path=workdir / "worker.log")
            time.sleep(3)  # let the worker connect; the batch is measured from the model's first request
            with session_scope() as s:
                writer = s.get(User, writer_id)
                for document_id in document_ids:
                    runs.start_run(s, document_id=document_id, user=writer)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                with session_scope() as s:
                    counts = dict(s.execute(select(Run.status, func.count()).group_by(Run.status)).all())
                if counts.get("queued", 0) + counts.get("running", 0) == 0:
                    break
                if worker.poll() is not None:
                    raise SystemExit("the worker died:\n" + output(worker))
                time.sleep(0.2)
            else:
                raise SystemExit(f"runs did not finish: {counts}\n" + output(worker))
        finally:
            if worker is not None:
                stop_process(worker)
            get_settings.cache_clear()
            drop_postgres_database(args.server, url)
        timings = sorted(model.timings)

    first, last = timings[0][0], max(b for _a, b in timings)
    wall = last - first
    busy = busy_seconds(timings, first, last)
    ideal = busy / args.concurrency
    middle_start, middle_end = first + 0.1 * wall, last - 0.1 * wall
    middle = busy_seconds(timings, middle_start, middle_end) / (args.concurrency * (middle_end - middle_start))
    edges = sorted([(a, 1) for a, _b in timings] + [(b, -1) for _a, b in timings])
    in_flight = peak = 0
    for _when, step in edges:
        in_flight += step
        peak = max(peak, in_flight)
    print(json.dumps({"runs": counts, "model_requests": len(timings), "peak_in_flight": peak}))
    print(f"broker {args.broker}, limit {args.concurrency} concurrent requests, "
          f"{args.threads or 2 * args.concurrency} worker threads, model latency {args.latency:.2f} s")
    print(f"wall {wall:.2f} s   ideal {ideal:.2f} s (busy seconds / limit)   wall/ideal {wall / ideal:.2f}")
    print(f"utilisation: whole batch {busy / (args.concurrency * wall):.1%}, middle 80 % {middle:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
