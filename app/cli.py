"""`emend serve | worker | migrate | create-user | create-token | demo` (and more from features)."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from app.config import ROOT, get_settings


def migrate(url: str | None = None) -> None:
    """Bring the database to the newest schema (Alembic upgrade head)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.attributes["url"] = url
    command.upgrade(cfg, "head")


BEAT_SCHEDULE_FILE = Path("var/celerybeat-schedule")  # beat's record of when each sweep last ran


def _beat_schedule() -> str:
    BEAT_SCHEDULE_FILE.parent.mkdir(parents=True, exist_ok=True)
    return str(BEAT_SCHEDULE_FILE)


def _worker_command(concurrency: int | None, pool: str, *, beat: bool = False) -> list[str]:
    if concurrency is None:  # twice the model slots: threads doing database work keep the model busy
        concurrency = 2 * max(1, get_settings().model_concurrency)
    command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", "emend",
               "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-heartbeat",
               "--without-gossip", "--without-mingle"]
    if beat:  # the periodic sweeps, in this worker: right when it is the only one
        command += ["--beat", "--schedule", _beat_schedule()]
    return command


def prepare_broker() -> None:
    """Create the broker's task queue before the worker and the web server start. On the embedded
    broker kombu creates its tables and queue row on first use, and two processes doing that at
    once can collide (UNIQUE constraint failed: kombu_queue.name) and kill the worker."""
    from workers.celery_app import celery_app

    queue = celery_app.amqp.queues[celery_app.conf.task_default_queue]
    with celery_app.connection_for_write() as connection:
        queue(connection.default_channel).declare()


def _resend_orphaned_runs(settings) -> None:
    """This server's worker is its only one: a run still queued or running was left by the last
    one, so it is sent again now rather than after EMEND_RUN_STALE_SECONDS."""
    from app.db import session_scope
    from app.runs.service import sweep_stale_runs

    with session_scope() as session:
        swept = sweep_stale_runs(session, stale_seconds=0, max_recoveries=settings.run_max_recoveries)
    if any(swept.values()):
        print(f"Runs left by the last start: {swept}", flush=True)


def cmd_serve(args) -> int:
    settings = get_settings()
    migrate()
    if not args.no_demo:
        from app.db import session_scope
        from app.demo import seed_demo

        with session_scope() as session:
            seed_demo(session)
    prepare_broker()
    worker = None
    if not args.no_worker:
        _resend_orphaned_runs(settings)
        # Same working directory as the web server, so relative SQLite paths and .env match.
        worker = subprocess.Popen(_worker_command(args.concurrency, "threads", beat=True), env=dict(os.environ))
    url = f"http://{args.host}:{args.port}"
    print(f"\nEmend is serving at {url}\n", flush=True)
    if not args.no_demo:
        print("Demo logins (password: EMEND_DEMO_PASSWORD, default 'emend-demo'):\n"
              "  admin@example.com (site admin)\n  writer@example.com (writer)\n"
              "  annotator@example.com (annotator)\n", flush=True)
    print(f"Database: {settings.database_url}\nBroker:   {settings.broker_url}\n", flush=True)
    import uvicorn

    # uvicorn shuts down on SIGTERM and then re-raises it; with the default action the process
    # would die before `finally` and leave the worker running. Exiting normally stops it.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    try:
        uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port,
                    log_level="info", access_log=False)
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down cleanly; no traceback
        return 130
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
    return 0


def cmd_worker(args) -> int:
    os.execv(sys.executable, _worker_command(args.concurrency, args.pool, beat=args.beat))
    return 0  # pragma: no cover


def cmd_beat(args) -> int:
    os.execv(sys.executable, [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat",
                              "--schedule", _beat_schedule(), "--loglevel", "INFO"])
    return 0  # pragma: no cover


def cmd_migrate(args) -> int:
    migrate()
    print("Database is at the newest schema.")
    return 0


def cmd_create_user(args) -> int:
    from app.accounts import service
    from app.db import session_scope

    with session_scope() as session:
        user = service.create_user(session, email=args.email, password=args.password, name=args.name or "",
                                   is_site_admin=args.admin)
        print(f"Created user #{user.id} {user.email}{' (site admin)' if args.admin else ''}.")
    return 0


def cmd_create_token(args) -> int:
    from sqlalchemy import select

    from app.accounts import service
    from app.db import session_scope
    from app.models import User

    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == args.email.strip().lower()))
        if user is None:
            print(f"No user {args.email}.", file=sys.stderr)
            return 1
        _token, secret = service.create_token(session, user=user, name=args.name or "cli",
                                              scopes=args.scope or None)
    print(secret)
    return 0


def cmd_demo(args) -> int:
    from app.db import session_scope
    from app.demo import seed_demo

    migrate()
    with session_scope() as session:
        made = seed_demo(session)
    print("Demo data created." if made else "Demo data exists already.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emend", description="Emend: human-in-the-loop revision workbench.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, seed the demo, start a worker and the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-demo", action="store_true", help="do not create the demo users and project")
    serve.add_argument("--no-worker", action="store_true", help="do not start a Celery worker alongside")
    serve.add_argument("--concurrency", type=int, help="worker threads (default: 2 × EMEND_MODEL_CONCURRENCY)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--concurrency", type=int, help="worker threads (default: 2 × EMEND_MODEL_CONCURRENCY)")
    worker.add_argument("--pool", default="threads", choices=["threads", "prefork", "solo"])
    worker.add_argument("--beat", action="store_true",
                        help="also run the periodic sweeps (idle queue claims, expired exports); one worker only")
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("beat", help="run the periodic sweeps (one per deployment)").set_defaults(func=cmd_beat)

    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(func=cmd_migrate)

    cu = sub.add_parser("create-user", help="create a user")
    cu.add_argument("email")
    cu.add_argument("--password", required=True)
    cu.add_argument("--name")
    cu.add_argument("--admin", action="store_true", help="make a site admin")
    cu.set_defaults(func=cmd_create_user)

    ct = sub.add_parser("create-token", help="create an API token and print it (shown once)")
    ct.add_argument("email")
    ct.add_argument("--scope", action="append", help="read, write, annotate, export (repeatable)")
    ct.add_argument("--name")
    ct.set_defaults(func=cmd_create_token)

    sub.add_parser("demo", help="create the demo users, project and document").set_defaults(func=cmd_demo)

    for extend in _feature_commands():
        extend(sub)
    return parser


def _feature_commands():
    """Features add their own sub-commands with a `register_cli(subparsers)` in `app/<feature>/cli.py`."""
    import importlib

    for feature in ("exports", "runs", "annotations", "metrics", "imports"):
        try:
            module = importlib.import_module(f"app.{feature}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.{feature}.cli":
                raise
            continue
        yield module.register_cli


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from app.errors import EmendError

    try:
        return args.func(args) or 0
    except EmendError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
