"""Admission for requests whose work grows with a document's size (review, diff, read and write
views, bulk decisions): at most `EMEND_HEAVY_REQUESTS` of them run at once per server process,
the others wait their turn before they touch the database.

Routes run on threads that share one interpreter lock, so ten large diffs in flight would slow
every small page of the process tenfold; with the gate, a small page shares the CPU with at most
a couple of large ones, and only the large requests wait (for each other)."""
from __future__ import annotations

import asyncio
import weakref

from fastapi import Depends

from app.config import get_settings

# One semaphore per event loop (tests start several loops; a semaphore belongs to one).
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(max(1, get_settings().heavy_requests))
    return gate


async def _heavy_request():
    # Async, so a waiting request holds no thread and no database connection.
    async with _gate():
        yield


# Use as a route's first dependency: `@router.get(..., dependencies=[HEAVY])`. Route-level
# dependencies are resolved before the endpoint's own (the session, the signed-in user).
HEAVY = Depends(_heavy_request)
