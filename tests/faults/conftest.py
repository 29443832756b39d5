"""Services of the fault tests' own: a redis-server and a PostgreSQL cluster on free ports, which
the tests stop and start. The shared services of the machine are never touched."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_until

PG_BIN = next((Path(p) for p in ("/usr/lib/postgresql/15/bin", "/usr/local/bin") if (Path(p) / "initdb").exists()),
              None)


class OwnRedis:
    def __init__(self, port: int, workdir: Path):
        self.port, self.workdir, self.proc = port, workdir, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=20, what="redis-server to answer")

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """As a crash would: SIGKILL, nothing kept (no persistence)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = OwnRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def _as_postgres(*args: str) -> subprocess.CompletedProcess:
    command = list(args) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)


class OwnPostgres:
    def __init__(self, port: int, datadir: Path):
        self.port, self.datadir = port, datadir
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def start(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", "-l",
                     str(self.datadir / "server.log"), "-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1",
                     "start")

    def stop(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", "-m", "fast", "stop")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    if PG_BIN is None or shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("PostgreSQL's initdb is not installed")
    base = Path(tempfile.mkdtemp(prefix="emend-pg-"))
    datadir = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    server = OwnPostgres(free_port(), datadir)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.2)
        shutil.rmtree(base, ignore_errors=True)
