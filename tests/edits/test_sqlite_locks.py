"""SQLite (the embedded default): reads never hold the write lock, writers queue in order."""
from __future__ import annotations

import threading
import time

from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.requests import Request

from app import db as app_db
from app.db import SQLITE_BEGIN, make_engine


def _engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'locks.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.exec_driver_sql("INSERT INTO t (v) VALUES ('a')")
    return engine


def _read_session(engine) -> Session:
    session = Session(engine)
    session.connection(execution_options={SQLITE_BEGIN: "DEFERRED"})
    return session


def _write_in_thread(engine, value: str) -> threading.Thread:
    def write():
        with Session(engine) as s:
            s.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
            s.commit()
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_long_read_does_not_block_a_write(tmp_path):
    engine = _engine(tmp_path)
    reader = _read_session(engine)
    assert reader.scalar(text("SELECT count(*) FROM t")) == 1  # the read transaction is open
    writer = _write_in_thread(engine, "b")
    writer.join(timeout=10)  # an IMMEDIATE reader would hold the writer for the busy timeout (30 s)
    assert not writer.is_alive()
    assert reader.scalar(text("SELECT count(*) FROM t")) == 1  # still its own snapshot
    reader.commit()
    assert reader.scalar(text("SELECT count(*) FROM t")) == 2
    reader.close()
    engine.dispose()


def test_a_read_that_writes_after_another_commit_does_not_fail(tmp_path):
    engine = _engine(tmp_path)
    reader = _read_session(engine)
    reader.scalar(text("SELECT count(*) FROM t"))
    _write_in_thread(engine, "b").join(timeout=10)
    # A plain deferred transaction would fail here (SQLITE_BUSY_SNAPSHOT): its snapshot is stale.
    reader.execute(text("INSERT INTO t (v) VALUES ('c')"))
    reader.commit()
    with engine.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT v FROM t ORDER BY id")] == ["a", "b", "c"]
    reader.close()
    engine.dispose()


def test_concurrent_writers_all_commit_and_the_lock_is_released(tmp_path):
    engine = _engine(tmp_path)
    threads = [_write_in_thread(engine, f"w{i}") for i in range(20)]
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 21
    # A failed transaction (rolled back) leaves the lock free for the next writer.
    with Session(engine) as s:
        s.execute(text("INSERT INTO t (v) VALUES ('x')"))
        s.rollback()
    _write_in_thread(engine, "after").join(timeout=10)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 22
    engine.dispose()


def test_get_requests_read_in_a_deferred_transaction(tmp_path):
    engine = _engine(tmp_path)
    previous = app_db._engine
    app_db.set_engine(engine)
    try:
        for method, reading in (("GET", True), ("POST", False)):
            request = Request({"type": "http", "method": method, "headers": [], "path": "/"})
            dependency = app_db.get_session(request)
            session = next(dependency)
            session.execute(text("SELECT 1"))
            assert bool(session.connection().info.get(app_db._READING)) is reading
            if not reading:  # a POST holds the writer lock; a GET does not
                started = time.monotonic()
                other = _write_in_thread(engine, "blocked")
                other.join(timeout=0.3)
                assert other.is_alive() and time.monotonic() - started >= 0.3
            dependency.close()
            if not reading:
                other.join(timeout=10)
                assert not other.is_alive()
    finally:
        if previous is not None:
            app_db.set_engine(previous)
        engine.dispose()


def test_commits_do_not_checkpoint_the_log_a_thread_does(tmp_path):
    engine = _engine(tmp_path)
    wal = tmp_path / "locks.db-wal"
    with engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    # A reader keeps the log from being reset, so its size shows what the commits added.
    reader = engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"})
    reader.exec_driver_sql("SELECT count(*) FROM t").scalar()
    for n in range(1500):  # past SQLite's default autocheckpoint of 1,000 pages
        with engine.begin() as write:
            write.exec_driver_sql("INSERT INTO t (v) VALUES (?)", (f"{n:04d}" + "x" * 4000,))
    grown = wal.stat().st_size
    assert grown > 1000 * 4096  # nothing was checkpointed inside a commit
    reader.rollback()
    reader.close()
    # The checkpoint thread copies the log into the file; the next writer then starts it over.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and wal.stat().st_size > app_db.WAL_SIZE_LIMIT:
        with engine.begin() as write:
            write.exec_driver_sql("INSERT INTO t (v) VALUES ('after')")
        time.sleep(0.2)
    assert wal.stat().st_size <= app_db.WAL_SIZE_LIMIT < grown
    with engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() >= 1502
    engine.dispose()
