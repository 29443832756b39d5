"""Latency of the hot paths on PostgreSQL under a fixed request rate (open loop).

Measures, against a real uvicorn server on 127.0.0.1 and a scratch PostgreSQL database:
- baseline: GET /healthz (no database) at the same rate, measured in the same run;
- a decision saved and its fragment returned: POST /edits/{id}/decide as htmx sends it;
- a 100-row list page: GET /projects/{id} listing 100 documents.
Targets: decision p99 <= 25 ms at 100 req/s; list page <= 30 ms.

Run: .venv/bin/python bench/decision_load.py [--rate 100] [--seconds 30]
"""
from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("EMEND_SECRET_KEY", "bench-secret")

from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.cli import migrate
from app.db import make_engine
from app.documents import service as documents
from app.models import Edit, Run
from tests.conftest import create_postgres_database, drop_postgres_database

PASSWORD = "bench-password"
EDITS_PER_RUN = 100


def seed(url: str, documents_count: int = 100, edits_per_run: int = EDITS_PER_RUN) -> tuple[int, list[int]]:
    """A project with 100 documents, each with a finished run of pending edits."""
    engine = make_engine(url)
    words = [f"word{i}" for i in range(edits_per_run)]
    text = " ".join(words)
    edit_ids: list[int] = []
    with Session(engine) as session:
        admin = accounts.create_user(session, email="admin@bench.test", password=PASSWORD, is_site_admin=True)
        writer = accounts.create_user(session, email="writer@bench.test", password=PASSWORD)
        project = accounts.create_project(session, name="Bench", actor=admin)
        accounts.set_member(session, project=project, user=writer, role="writer", actor=admin)
        for n in range(documents_count):
            document = documents.create_document(session, project_id=project.id, title=f"Document {n}",
                                                 text=text, actor=writer)
            run = Run(project_id=project.id, document_id=document.id, version_id=document.current_version_id,
                      model="emend/offline-reviser", status="succeeded", created_by_id=writer.id)
            session.add(run)
            session.flush()
            offset = 0
            edits = []
            for word in words:
                edits.append(Edit(run_id=run.id, version_id=run.version_id, start=offset, end=offset + len(word),
                                  original=word, replacement=word.upper(), intent="fluency",
                                  rationale="bench", confidence=0.9))
                offset += len(word) + 1
            session.add_all(edits)
            session.flush()
            edit_ids.extend(e.id for e in edits)
        session.commit()
        project_id = project.id
    engine.dispose()
    return project_id, edit_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, processes: int, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "EMEND_DATABASE_URL": url, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning", "--workers", str(processes)],
        cwd=str(ROOT), env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def signed_in_headers(base: str) -> dict[str, str]:
    """Cookies and CSRF header of a signed-in writer, as a browser would send them."""
    with httpx.Client(base_url=base, timeout=10) as client:
        client.get("/login")
        token = client.cookies["csrftoken"]
        r = client.post("/login", data={"email": "writer@bench.test", "password": PASSWORD, "next": "/"},
                        headers={"x-csrftoken": token})
        assert r.status_code in (200, 303), r.text
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return {"Cookie": cookie, "x-csrftoken": token}


class Client:
    """A keep-alive connection with little client-side CPU (the load runs on the same 2 cores)."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.port, self.headers = port, headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None) -> int:
        all_headers = {**self.headers, **(headers or {})}
        if body is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=all_headers)
                response = self.conn.getresponse()
                response.read()
                return response.status
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection: reconnect once, as browsers do.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children's threads (from /proc), for CPU per request."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def open_loop(make_request, rate: float, seconds: float, port: int, headers: dict) -> tuple[list[float], int]:
    """Send requests at a fixed rate whatever the latency; return latencies (ms) and errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    local = threading.local()

    def one(i: int) -> None:
        nonlocal errors
        if not hasattr(local, "client"):
            local.client = Client(port, headers)
        start = time.perf_counter()
        try:
            ok = make_request(local.client, i)
        except (http.client.HTTPException, OSError):
            ok = False
        elapsed = (time.perf_counter() - start) * 1000
        with lock:
            latencies.append(elapsed)
            errors += 0 if ok else 1

    total = int(rate * seconds)
    with ThreadPoolExecutor(max_workers=64) as pool:
        t0 = time.perf_counter()
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    return latencies, errors


def summary(name: str, latencies: list[float], errors: int, baseline_p99: float | None = None,
            cpu_ms: float | None = None) -> float:
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    p99 = p(0.99)
    ratio = f"  p99 = {p99 / baseline_p99:.1f}x baseline" if baseline_p99 else ""
    print(f"{name:34s} n={len(ordered):5d} err={errors:3d}  p50={p(0.5):6.1f} ms  p95={p(0.95):6.1f} ms  "
          f"p99={p99:6.1f} ms  server CPU {cpu_ms:4.1f} ms/req{ratio}", flush=True)
    return p99


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=os.environ.get("EMEND_TEST_DATABASE_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--web-processes", type=int, default=1,
                        help="uvicorn worker processes (production runs several; each holds one GIL)")
    parser.add_argument("--profile", help="write a py-spy profile of the server during the decisions here")
    args = parser.parse_args()

    url = create_postgres_database(args.server, prefix="emend_bench")
    proc = None
    try:
        migrate(url)
        project_id, edit_ids = seed(url)
        port = free_port()
        proc = start_server(url, port, args.web_processes)
        headers = signed_in_headers(f"http://127.0.0.1:{port}")
        htmx = {"HX-Request": "true"}

        def measured(name, make_request, rate, seconds, baseline=None):
            before = cpu_seconds(proc.pid)
            lat, err = open_loop(make_request, rate, seconds, port, headers)
            cpu_ms = (cpu_seconds(proc.pid) - before) * 1000 / max(len(lat), 1)
            return summary(name, lat, err, baseline, cpu_ms)

        # Warm up connections and code paths.
        open_loop(lambda c, i: c.request("GET", "/healthz") == 200, 50, 2, port, headers)
        base_p99 = measured("baseline GET /healthz", lambda c, i: c.request("GET", "/healthz") == 200,
                            args.rate, args.seconds)

        def decide(c: Client, i: int) -> bool:
            # Like many writers at once: consecutive requests go to different runs (one writer's own
            # decisions on one run are seconds apart; the run row is locked while one is saved).
            runs = len(edit_ids) // EDITS_PER_RUN
            edit_id = edit_ids[(i % runs) * EDITS_PER_RUN + (i // runs) % EDITS_PER_RUN]
            body = "decision=" + ("accept" if i % 2 else "reject")
            return c.request("POST", f"/edits/{edit_id}/decide", body, htmx) == 200

        # Warm the decision path too (template compilation, statement caches), as a server in
        # steady state would be; then measure.
        open_loop(lambda c, i: decide(c, i + 500_000), 50, 2, port, headers)
        profiler = None
        if args.profile:
            profiler = subprocess.Popen(["py-spy", "record", "--format", "raw", "-o", args.profile, "-p",
                                         str(proc.pid), "-d", str(int(args.seconds)), "--gil"])
        measured("POST /edits/{id}/decide (htmx)", decide, args.rate, args.seconds, base_p99)
        if profiler is not None:
            profiler.wait()
        measured("GET /projects/{id} (100 rows)", lambda c, i: c.request("GET", f"/projects/{project_id}") == 200,
                 20, min(args.seconds, 15), base_p99)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        drop_postgres_database(args.server, url)


if __name__ == "__main__":
    main()
