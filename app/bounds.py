"""Input bounds every request is held to before any route or query sees it.

PostgreSQL refuses NUL characters and ids past its column types, and a lone surrogate cannot be
encoded for it: left alone, each is a 500 somewhere deep. One app-wide dependency refuses them at
the door with a clear 4xx instead, so every route (and every new one) is covered.
"""
from __future__ import annotations

import json
import re
from typing import Annotated

from annotated_types import Ge, Le
from fastapi import Request

from app.errors import EmendError, Invalid, NotFound

MAX_ID = 2**31 - 1  # ids are INTEGER columns
# An id in a path or a body: anything else cannot name a row.
DbId = Annotated[int, Ge(1), Le(MAX_ID)]

# Query parameters that count rows or pages (SQL LIMIT / OFFSET): negative ones are refused.
_COUNTING_PARAMS = {"limit", "page", "per_page", "offset", "size"}
_INTEGER = re.compile(r"[+-]?\d+")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_API_MEDIA_TYPES = ("application/json", "multipart/form-data", "application/x-www-form-urlencoded")


class UnsupportedMediaType(EmendError):
    status_code = 415


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which text cannot hold"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (an unpaired \\ud800–\\udfff), which is not valid Unicode"
    return None


def _strings(value):
    if isinstance(value, str):
        yield "", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from ((f"{key}{'.' + sub if sub else ''}", s) for sub, s in _strings(item))
            yield from _strings(key) if isinstance(key, str) else ()
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check_query(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        problem = text_problem(value) or text_problem(name)
        if problem:
            raise Invalid(f"The query parameter {name!r} {problem}.")
        if _INTEGER.fullmatch(value.strip()):
            number = int(value)
            if abs(number) > MAX_ID:
                raise Invalid(f"The query parameter {name!r} is out of range (at most {MAX_ID}).")
            if name in _COUNTING_PARAMS and number < (0 if name == "offset" else 1):
                raise Invalid(f"The query parameter {name!r} must be {'0 or more' if name == 'offset' else '1 or more'}.")


def _check_path(request: Request) -> None:
    problem = text_problem(request.url.path)
    if problem:
        raise NotFound("There is nothing here.")
    for part in request.url.path.split("/"):
        if _INTEGER.fullmatch(part) and abs(int(part)) > MAX_ID:
            raise NotFound("There is nothing here.")


async def _check_body(request: Request) -> None:
    if request.method not in _BODY_METHODS:
        return
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        await _check_form(request)  # parsed once: the route gets the same cached form
        return
    body = await request.body()  # cached: the route reads the same bytes
    if request.url.path.startswith("/api/") and body and media_type not in _API_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"The API takes application/json bodies (or multipart/form-data for files), not {media_type or 'no type'}.")
    if body and media_type == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:
            return  # the route answers 422 with the parser's message
        for field, value in _strings(parsed):
            problem = text_problem(value)
            if problem:
                raise Invalid(f"The field {field or 'value'!r} {problem}.")


async def _check_form(request: Request) -> None:
    form = await request.form()
    for name, value in form.multi_items():
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise Invalid(f"The field {name!r} {problem}.")
        else:  # an uploaded file: Emend takes plain text only (read in blocks: imports can be large)
            while block := await value.read(1 << 20):
                if b"\x00" in block:
                    await value.seek(0)
                    raise Invalid(f"The file {value.filename!r} contains NUL characters: "
                                  "upload plain text (.txt, .md, .jsonl).")
            await value.seek(0)


async def check_request_input(request: Request) -> None:
    """App-wide dependency (create_app): path ids, query numbers and text, and body text in bounds."""
    _check_path(request)
    _check_query(request)
    await _check_body(request)
