"""Response caches for the model gateway.

A cache maps a sha256 key of (model, messages, params) to the stored answer, so an identical
call (same prompt, same settings) costs nothing the second time.
"""
from __future__ import annotations

import copy
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session


@runtime_checkable
class ResponseCache(Protocol):
    def get(self, key: str) -> dict | None: ...

    def put(self, key: str, model: str, response: dict) -> None: ...


class MemoryResponseCache:
    """Process-local cache (scripts, tests, evaluation loops)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, dict]] = {}

    def get(self, key: str) -> dict | None:
        entry = self._entries.get(key)
        return copy.deepcopy(entry[1]) if entry else None

    def put(self, key: str, model: str, response: dict) -> None:
        self._entries[key] = (model, copy.deepcopy(response))

    def __len__(self) -> int:
        return len(self._entries)


class DbResponseCache:
    """Cache in the llm_cache table, inside the caller's transaction (flushes, never commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> dict | None:
        from app.models import LlmCacheEntry

        entry = self.session.get(LlmCacheEntry, key)
        return copy.deepcopy(entry.response) if entry is not None else None

    def put(self, key: str, model: str, response: dict) -> None:
        from sqlalchemy.exc import IntegrityError

        from app.models import LlmCacheEntry

        try:
            with self.session.begin_nested():  # two workers may store the same answer at once
                self.session.merge(LlmCacheEntry(key=key, model=model[:200], response=response))
        except IntegrityError:
            pass  # the other worker's copy is the same answer


class ShortSessionCache:
    """DbResponseCache with each lookup in a short transaction of its own, so no transaction stays
    open while the model is called (pipeline and replays)."""

    def __init__(self, factory) -> None:
        self.factory = factory

    def get(self, key: str) -> dict | None:
        with self.factory() as session:
            return DbResponseCache(session).get(key)

    def put(self, key: str, model: str, response: dict) -> None:
        from sqlalchemy.exc import IntegrityError

        try:
            with self.factory() as session:
                DbResponseCache(session).put(key, model, response)
                session.commit()
        except IntegrityError:  # another worker stored the same answer first
            pass
