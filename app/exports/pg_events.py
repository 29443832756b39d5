"""The events export on PostgreSQL: the database renders, Python touches blocks, not rows.

- JSONL: PostgreSQL renders each row as a JSON line (concatenating `to_json` of each column) and
  hands over a few thousand lines at a time as one bytea value (`string_agg` over an id range);
  two backends sharing one snapshot render alternate ranges, written in id order.
- Parquet: COPY … CSV is parsed by pyarrow's streaming CSV reader (C++) into record batches that
  go to the ParquetWriter in row groups (one backend: Python's per-row COPY messages, not the
  database, are the limit there, so two backends do not help).

Pseudonyms are computed in SQL as HMAC-SHA256 over the built-in sha256() with the padded keys
from `formats.hmac_pads`, so they equal `formats.pseudonym` without a database extension.
The same filters as `formats.events_query` apply, and the rows come in the same order (by id).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy.orm import Session

from app.exports.bundle import TableWriter
from app.exports.formats import Context, hmac_pads

ROW_GROUP_ROWS = 50_000
PARALLEL_MIN_IDS = 200_000  # below this, one COPY is quick enough


def _pseudonym_sql(expr: str) -> str:
    return ("('u_' || substr(encode(sha256(%(opad)s::bytea || sha256(%(ipad)s::bytea || "
            f"convert_to(({expr})::text, 'UTF8'))), 'hex'), 1, 16))")


def events_sql(ctx: Context, *, epoch_micros: bool, id_range: bool = False) -> tuple[str, dict]:
    """The SELECT of the events export and its parameters (psycopg placeholders); with `id_range`,
    only ids in (%(after_id)s, %(last_id)s]."""
    f = ctx.filters
    params: dict = {}
    where = ["id > %(after_id)s AND id <= %(last_id)s"] if id_range else []
    for column, value in (("project_id", f.project_id), ("actor_id", f.person_id)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    if f.since is not None:
        where.append("created_at >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        where.append("created_at < %(until)s")
        params["until"] = f.until
    if f.source != "all":
        where.append("source = %(source)s")
        params["source"] = f.source
    created = "(extract(epoch from created_at) * 1000000)::bigint" if epoch_micros else "created_at"
    if ctx.pseudonymise:
        params["ipad"], params["opad"] = hmac_pads(ctx.secret_key)
        actor = f"CASE WHEN actor_id IS NULL THEN NULL ELSE {_pseudonym_sql('actor_id')} END"
        ip = "NULL::text"
        user_id = _pseudonym_sql("data ->> 'user_id'")
        data = ("(CASE WHEN json_typeof(data -> 'user_id') = 'number' "
                f"THEN jsonb_set(data::jsonb - 'email', '{{user_id}}', to_jsonb({user_id})) "
                "ELSE data::jsonb - 'email' END)::text")
    else:
        actor, ip, data = "actor_id", "ip", "data::text"
    sql = (f"SELECT id, {created} AS created_at, kind, {actor} AS actor_id, source, project_id, document_id, run_id, "
           f"subject_kind, subject_id, {ip} AS ip, {data} AS data FROM events"
           + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id")
    return sql, params


_INT_COLUMNS = {"id", "project_id", "document_id", "run_id", "subject_id"}
_NOT_NULL = {"id", "created_at", "kind", "source", "data"}
RANGE_IDS = 5000  # ids per query of the JSONL export: one ~2 MB answer, not 5,000 COPY messages


def _json_line_sql(ctx: Context) -> str:
    """One JSON object per row built by concatenation (row_to_json is slower for the same text)."""
    parts = []
    for i, name in enumerate(("id", "created_at", "kind", "actor_id", "source", "project_id", "document_id", "run_id",
                              "subject_kind", "subject_id", "ip", "data")):
        key = ("{" if i == 0 else ",") + f'"{name}":'
        if name in _INT_COLUMNS or (name == "actor_id" and not ctx.pseudonymise):
            value = f"t.{name}::text"
        else:
            value = f"to_json(t.{name})::text"
        if name not in _NOT_NULL:
            value = f"coalesce({value}, 'null')"
        parts.append(f"'{key}' || {value}")
    return " || ".join(parts) + " || '}'"


def _driver_connection(session: Session):
    return session.connection().connection.driver_connection


def write_events(session: Session, ctx: Context, writer: TableWriter, progress: Callable[[int], None]) -> None:
    """Stream the filtered events into the writer's JSONL and/or Parquet file."""
    conn = _driver_connection(session)
    with conn.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'")  # to_json renders timestamps as +00:00
    if writer.wants_jsonl:
        _write_jsonl(session, conn, ctx, writer, progress)
    if writer.wants_parquet:
        _write_parquet(conn, ctx, writer, progress)


def _write_jsonl(session: Session, conn, ctx: Context, writer: TableWriter, progress: Callable[[int], None]) -> None:
    """The lines are rendered by PostgreSQL, RANGE_IDS ids per query, each answer one bytea block."""
    sql, params = events_sql(ctx, epoch_micros=False, id_range=True)
    # The aggregate takes the lines in the subquery's id order (an ORDER BY inside string_agg would
    # sort the rendered lines again, ~40 % more work); tests check the order.
    block_sql = (f"SELECT count(*), convert_to(string_agg({_json_line_sql(ctx)}, E'\\n') || E'\\n', "
                 f"'UTF8') FROM ({sql}) t")

    def render(cursor, lo: int, hi: int) -> tuple[int, bytes | None]:
        return cursor.execute(block_sql, {**params, "after_id": lo, "last_id": hi}).fetchone()

    for rows, block in _in_id_order(session, conn, RANGE_IDS, render):
        if rows:
            writer.write_jsonl_chunk(block, rows)
            progress(rows)


def _in_id_order(session: Session, conn, step: int, render) -> Iterator:
    """`render(cursor, after_id, last_id)` for consecutive id ranges of `step` ids, in order.

    A large log is rendered by two backends at once: two helper connections sharing this
    transaction's snapshot render alternate ranges ahead of time, while the caller writes."""
    with conn.cursor() as cur:
        low, high = cur.execute("SELECT min(id), max(id) FROM events").fetchone()
    if low is None:
        return
    ranges = [(start, min(start + step, high)) for start in range(low - 1, high, step)]
    with conn.cursor(binary=True) as cur:  # a binary bytea answer is the raw bytes
        if high - low < PARALLEL_MIN_IDS:
            for lo, hi in ranges:
                yield render(cur, lo, hi)
            return
        snapshot = cur.execute("SELECT pg_export_snapshot()").fetchone()[0]
    helpers = [_RangeHelper(session, snapshot, render, ranges[k::2]) for k in (0, 1)]
    try:
        for i in range(len(ranges)):
            yield helpers[i % 2].next()
    finally:
        for helper in helpers:
            helper.stop()


class _RangeHelper:
    """A thread with its own connection, in the given snapshot, rendering `ranges` in order ahead of
    the caller; at most two blocks wait, so memory does not grow with the log."""

    def __init__(self, session: Session, snapshot: str, render, ranges: list[tuple[int, int]]):
        self._raw = session.get_bind().raw_connection()
        self._snapshot, self._render, self._ranges = snapshot, render, ranges
        self._results: queue.Queue = queue.Queue(maxsize=2)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emend-export-ranges", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        other = self._raw.driver_connection
        try:
            other.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with other.cursor(binary=True) as cur:
                cur.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'")  # the same rows as the caller
                cur.execute("SET LOCAL TimeZone = 'UTC'")
                for lo, hi in self._ranges:
                    if self._stopping.is_set():
                        break
                    self._put((None, self._render(cur, lo, hi)))
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
            self._put((exc, None))
        finally:
            other.rollback()

    def _put(self, item) -> None:
        while not self._stopping.is_set():
            try:
                self._results.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next(self) -> tuple[int, bytes | None]:
        error, result = self._results.get()
        if error is not None:
            raise error
        return result

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._raw.driver_connection.isolation_level = None  # back to the pool as it came
        self._raw.close()


class _CopyReader:
    """A read()-able file over a COPY TO STDOUT, for pyarrow's CSV reader."""

    def __init__(self, copy):
        self._blocks = iter(copy)
        self._buffer = bytearray()
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buffer += block
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def _write_parquet(conn, ctx: Context, writer: TableWriter, progress: Callable[[int], None]) -> None:
    sql, params = events_sql(ctx, epoch_micros=True)
    schema = writer.schema
    names = schema.names
    types = {name: (pa.int64() if name == "created_at" else schema.field(name).type) for name in names}
    read = pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 20)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False,
                                   null_values=[""])
    timestamp = schema.field("created_at").type
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def flush():
        nonlocal pending, pending_rows
        if pending:
            table = pa.Table.from_batches(pending)
            created = table.column("created_at").cast(timestamp)
            table = table.set_column(names.index("created_at"), "created_at", created)
            writer.write_arrow(table)
            progress(table.num_rows)
            pending, pending_rows = [], 0

    with conn.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
        # The system allocator hands freed blocks back; arrow's default pool keeps them and grows the RSS.
        reader = pacsv.open_csv(_CopyReader(copy), read_options=read, parse_options=parse, convert_options=convert,
                                memory_pool=pa.system_memory_pool())
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= ROW_GROUP_ROWS:
                flush()
        flush()
