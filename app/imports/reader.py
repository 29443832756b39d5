"""Streaming JSONL reader and validator for the import format (docs/import-format.md).

Reads one line at a time (memory does not grow with the file) and yields each line's number,
its validated record or the reason it is invalid, and how far into the file it got.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pydantic import ValidationError

from app.imports.schemas import RECORD

MAX_LINE_BYTES = 2_000_000  # a longer line is reported, not loaded


@dataclass
class Line:
    number: int
    record: object | None  # a validated record (app.imports.schemas), or None
    error: str | None
    external_id: str | None
    offset: int  # bytes read so far


def _message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in error["loc"] if not isinstance(p, int) or len(error["loc"]) == 1)
        # The discriminator ("document", "edit"...) leads the location; it says nothing to a person.
        where = where.split(".", 1)[1] if where.split(".", 1)[0] in _KINDS and "." in where else where
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


_KINDS = {"document", "run", "version", "edit", "decision", "feedback", "label"}


def _external_id(raw: bytes) -> str | None:
    """The record's id for the error report, read cheaply from an invalid line when possible."""
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return None
    ident = value.get("id") if isinstance(value, dict) else None
    return str(ident)[:200] if ident is not None else None


def read_lines(fh: BinaryIO) -> Iterator[Line]:
    offset = 0
    number = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            # Skip the rest of an over-long line without holding it.
            while raw and not raw.endswith(b"\n"):
                offset += len(raw)
                raw = fh.readline(MAX_LINE_BYTES)
            offset += len(raw)
            yield Line(number, None, f"line longer than {MAX_LINE_BYTES} bytes", None, offset)
            continue
        offset += len(raw)
        stripped = raw.strip()
        if not stripped:
            continue  # blank lines are allowed (a trailing newline, spacing)
        try:
            record = RECORD.validate_json(stripped)
        except ValidationError as exc:
            yield Line(number, None, _message(exc), _external_id(stripped), offset)
            continue
        except UnicodeDecodeError:
            yield Line(number, None, "not UTF-8", None, offset)
            continue
        yield Line(number, record, None, record.id, offset)
