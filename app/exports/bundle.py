"""Writing an export's files: JSONL (optionally gzip) and Parquet, row by row, in bounded memory.

A `Bundle` owns the directory of one export; `bundle.table(name, schema)` opens the files of one
table (`data`, `exposure`, `ids`), and rows are buffered only up to one Parquet row group.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 10_000
_BUFFER = 1 << 20


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default).encode


class _HashingFile:
    """A binary file that hashes what is written to it, so a large JSONL file is not read again."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.close()


class TableWriter:
    """One table's files. `write(row)` for dict rows; `write_jsonl_chunk` / `write_arrow` for the
    fast paths that produce encoded lines or Arrow tables themselves."""

    def __init__(self, directory: Path, name: str, schema: pa.Schema, *, jsonl: bool, parquet: bool, gzip_: bool):
        self.name = name
        self.schema = schema
        self.rows = 0
        self.paths: list[Path] = []
        self._jsonl = None
        self._parquet: pq.ParquetWriter | None = None
        self._pending: list[dict] = []
        self.digests: dict[Path, hashlib._Hash] = {}
        if jsonl:
            path = directory / (f"{name}.jsonl.gz" if gzip_ else f"{name}.jsonl")
            raw = _HashingFile(open(path, "wb", buffering=_BUFFER))  # noqa: SIM115 - closed by close()
            self.digests[path] = raw.digest
            self._jsonl = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) if gzip_ else raw
            self._raw = raw
            self.paths.append(path)
        if parquet:
            path = directory / f"{name}.parquet"
            self._parquet = pq.ParquetWriter(path, schema, compression="zstd")
            self.paths.append(path)

    @property
    def wants_jsonl(self) -> bool:
        return self._jsonl is not None

    @property
    def wants_parquet(self) -> bool:
        return self._parquet is not None

    def write(self, row: dict) -> None:
        if self._jsonl is not None:
            self._jsonl.write(_encode(row).encode())
            self._jsonl.write(b"\n")
        if self._parquet is not None:
            self._pending.append(row)
            if len(self._pending) >= ROW_GROUP_ROWS:
                self._flush_parquet()
        self.rows += 1

    def write_jsonl_chunk(self, chunk: bytes, rows: int) -> None:
        self._jsonl.write(chunk)
        if self._parquet is None:
            self.rows += rows

    def write_arrow(self, table: pa.Table) -> None:
        self._parquet.write_table(table.cast(self.schema))
        self.rows += table.num_rows

    def _flush_parquet(self) -> None:
        if self._pending:
            self._parquet.write_table(pa.Table.from_pylist(self._pending, schema=self.schema))
            self._pending = []

    def close(self) -> None:
        if self._parquet is not None:
            self._flush_parquet()
            self._parquet.close()
            self._parquet = None
        if self._jsonl is not None:
            self._jsonl.close()
            if self._jsonl is not self._raw:
                self._raw.close()
            self._jsonl = None


class Bundle:
    def __init__(self, directory: Path, *, jsonl: bool, parquet: bool, gzip_: bool):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.jsonl, self.parquet, self.gzip = jsonl, parquet, gzip_
        self.tables: dict[str, TableWriter] = {}

    def table(self, name: str, schema: pa.Schema, *, jsonl: bool | None = None, parquet: bool | None = None) -> TableWriter:
        writer = self.tables.get(name)
        if writer is None:
            writer = TableWriter(self.directory, name, schema, gzip_=self.gzip,
                                 jsonl=self.jsonl if jsonl is None else jsonl,
                                 parquet=self.parquet if parquet is None else parquet)
            self.tables[name] = writer
        return writer

    def close(self) -> None:
        for writer in self.tables.values():
            writer.close()

    def files(self) -> list[dict]:
        """Each data file with its table, row count, size and sha256."""
        out = []
        for writer in self.tables.values():
            for path in writer.paths:
                out.append({"name": path.name, "table": writer.name, "rows": writer.rows,
                            "bytes": path.stat().st_size,
                            "sha256": writer.digests[path].hexdigest() if path in writer.digests
                            else sha256_file(path)})
        return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BUFFER), b""):
            digest.update(block)
    return digest.hexdigest()
