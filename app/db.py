"""Engine, sessions and the declarative Base shared by every table."""
from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Request
from sqlalchemy import MetaData, create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from app.config import get_settings

# Stable constraint names on SQLite and PostgreSQL alike, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        checkpointed = bool(path) and path != ":memory:" and not path.startswith("file:")
        resolved = str(Path(path).resolve()) if checkpointed else ""

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # web and worker write the same file
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if checkpointed:
                # No checkpoint inside a commit (it would hold the write lock while it copies the
                # log into the file, a long pause for the next writer); a thread does it instead.
                cur.execute("PRAGMA wal_autocheckpoint=0")
                cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # the log shrinks back after a burst
                _checkpoints.start()
            cur.close()
            # Let SQLAlchemy, not pysqlite, open transactions, so SAVEPOINTs behave (SQLAlchemy docs).
            dbapi_conn.isolation_level = None

        writer = _writer_lock(path)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
            # writes fails with "database is locked" when another writer committed in between,
            # while this one simply waits. Reads (GET requests, exports) ask for DEFERRED and hold
            # no lock; their first write restarts them as IMMEDIATE (_sqlite_write_in_read).
            mode = conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
            if mode == "DEFERRED":
                conn.exec_driver_sql("BEGIN DEFERRED")
                conn.info[_READING] = True
                return
            _take(conn, writer)
            try:
                conn.exec_driver_sql(f"BEGIN {mode}")
            except BaseException:
                _release(conn, writer)
                raise

        @event.listens_for(engine, "before_cursor_execute")
        def _sqlite_write_in_read(conn, cursor, statement, _params, _context, _many):
            # A read transaction about to write (a GET that logs what it showed, a session touch):
            # it has written nothing, so ending it loses nothing; the write then runs in a fresh
            # IMMEDIATE transaction that queues for the lock instead of failing on a stale snapshot.
            if not conn.info.get(_READING) or not _WRITES.match(statement) or conn.in_nested_transaction():
                return
            conn.info[_READING] = False
            raw = conn.connection.driver_connection
            raw.execute("COMMIT")
            _take(conn, writer)
            raw.execute("BEGIN IMMEDIATE")

        def _end(conn):
            conn.info[_READING] = False
            if checkpointed and conn.info.get(_HOLDS_WRITER):
                _checkpoints.written(resolved)
            _release(conn, writer)

        event.listen(engine, "commit", _end)
        event.listen(engine, "rollback", _end)
        # A connection handed back to the pool mid-transaction (an error) never keeps the lock.
        event.listen(engine.pool, "checkin", lambda _dbapi, record: _release_record(record, writer))

        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


# Execution option: "DEFERRED" for a read-only SQLite transaction (see make_engine).
SQLITE_BEGIN = "emend_sqlite_begin"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_READING = "emend_sqlite_reading"
_HOLDS_WRITER = "emend_sqlite_writer"
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(path: str | None) -> threading.Lock:
    """One lock per database file in this process: writers queue on it in order, instead of
    polling SQLite's busy handler (whose growing sleeps gave a p99 of seconds at 20 clients)."""
    with _writer_locks_guard:
        return _writer_locks.setdefault(str(Path(path).resolve()) if path and path != ":memory:" else f"mem:{id(path)}",
                                        threading.Lock())


WAL_SIZE_LIMIT = 4 * 1024 * 1024  # bytes of SQLite's write-ahead log kept once it was checkpointed


class _Checkpoints:
    """Checkpoints the write-ahead log of each SQLite file this process wrote to, once a second,
    from a thread of its own. PASSIVE: it copies what no reader still needs and never waits for a
    lock, so it never makes a request wait (SQLite's automatic checkpoint runs inside a commit)."""

    INTERVAL = 1.0

    def __init__(self) -> None:
        self._written: set[str] = set()  # files with a write transaction since the last round
        self._guard = threading.Lock()
        self._pid: int | None = None  # the thread does not survive a fork: start one per process

    def start(self) -> None:
        with self._guard:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True).start()

    def written(self, path: str) -> None:
        with self._guard:
            self._written.add(path)

    def _run(self) -> None:
        while True:
            time.sleep(self.INTERVAL)
            with self._guard:
                paths, self._written = self._written, set()
            for path in paths:
                self.checkpoint(path)

    @staticmethod
    def checkpoint(path: str) -> None:
        try:
            # mode=rw: never create a file that was removed meanwhile.
            conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0.1)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # busy or gone: the next round tries again


_checkpoints = _Checkpoints()


def _take(conn, lock: threading.Lock) -> None:
    if conn.info.get(_HOLDS_WRITER):
        return
    # Bounded like SQLite's busy timeout: a thread that holds two write transactions at once
    # (never in the app) falls back to SQLite's own locking instead of waiting forever.
    if lock.acquire(timeout=30):
        conn.info[_HOLDS_WRITER] = True


def _release(conn, lock: threading.Lock) -> None:
    if conn.info.pop(_HOLDS_WRITER, False):
        lock.release()


def _release_record(record, lock: threading.Lock) -> None:
    record.info.pop(_READING, None)
    if record.info.pop(_HOLDS_WRITER, False):
        lock.release()

_engine: Engine | None = None
SessionLocal = sessionmaker(autoflush=False, expire_on_commit=False)


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        settings = get_settings()
        _engine = make_engine(settings.database_url, echo=settings.log_sql)
        SessionLocal.configure(bind=_engine)
    return _engine


def set_engine(engine: Engine) -> None:
    """Point the app at another engine (tests, CLI --database)."""
    global _engine
    _engine = engine
    SessionLocal.configure(bind=engine)


@contextmanager
def session_scope(*, read_only: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error. Used by tasks and the CLI.

    `read_only` (GET requests): on SQLite the transaction starts DEFERRED and takes the write
    lock only if it writes after all, so a slow page never makes a writer wait."""
    from app import jobs

    get_engine()
    session = SessionLocal()
    try:
        if read_only:
            session.connection(execution_options={SQLITE_BEGIN: "DEFERRED"})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    jobs.raise_if_refused(session)


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: the request's transaction (a read transaction for GET and HEAD)."""
    with session_scope(read_only=request.method in READ_METHODS) as session:
        yield session
