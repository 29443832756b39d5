"""Helpers for tests that start real processes: Celery workers and the web server."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def process_env(extra: dict[str, str]) -> dict[str, str]:
    """The test process's environment plus `extra`; never lets the child reach the internet for
    litellm's price list."""
    env = dict(os.environ)
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def start_worker(env: dict[str, str], *, concurrency: int = 2, log_path: Path | None = None,
                 beat: bool = False) -> subprocess.Popen:
    """Start a real Celery worker on the `emend` queue. `env` must carry EMEND_DATABASE_URL and
    EMEND_BROKER_URL. Its output goes to `proc.log_path` (see `output`). Stop it with
    `stop_process`."""
    if log_path is None:
        log_path = Path(tempfile.mkstemp(prefix="emend-worker-", suffix=".log")[1])
    command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool", "threads",
               "-c", str(concurrency), "-Q", "emend", "--loglevel", "INFO",
               "--without-heartbeat", "--without-gossip", "--without-mingle"]
    if beat:  # the periodic sweeps, embedded, as `emend serve` runs them
        command += ["--beat", "--schedule", str(Path(log_path).with_suffix(".beat"))]
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(command, cwd=str(ROOT), env=process_env(env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path
    return proc


def output(proc: subprocess.Popen, tail: int = 4000) -> str:
    """The last characters a process started by these helpers printed (for assertion messages)."""
    path = getattr(proc, "log_path", None)
    if path is None or not Path(path).exists():
        return ""
    return Path(path).read_text(errors="replace")[-tail:]


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process and its children (it leads its own session), then SIGKILL if needed."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def wait_until(check: Callable[[], T], *, timeout: float = 60, interval: float = 0.1,
               proc: subprocess.Popen | None = None, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail early if `proc` died."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} while waiting for {what}:\n{output(proc)}")
        if time.monotonic() > deadline:
            detail = f":\n{output(proc)}" if proc is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
