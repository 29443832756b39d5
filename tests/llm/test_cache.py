"""The database response cache on the llm_cache table (in-memory SQLite)."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import app.models  # noqa: F401  (registers every table on Base.metadata)
from app.db import Base, make_engine
from app.llm.cache import DbResponseCache, ResponseCache
from app.llm.gateway import ModelSettings, complete
from app.llm.prompts import propose_messages
from app.models import LlmCacheEntry


@pytest.fixture
def session():
    engine = make_engine("sqlite://")  # Emend's SQLite setup, where savepoints behave
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_put_get_and_overwrite_without_commit(session):
    cache = DbResponseCache(session)
    assert isinstance(cache, ResponseCache)
    key = "a" * 64
    assert cache.get(key) is None
    cache.put(key, "emend/offline-reviser", {"content": "{}", "tokens_in": 3})
    assert cache.get(key) == {"content": "{}", "tokens_in": 3}
    cache.put(key, "emend/offline-reviser", {"content": "[]"})
    assert cache.get(key) == {"content": "[]"}
    assert session.scalar(select(LlmCacheEntry.model).where(LlmCacheEntry.key == key)) == "emend/offline-reviser"
    session.rollback()  # the cache flushed inside the caller's transaction and never committed
    assert cache.get(key) is None


def test_gateway_uses_db_cache(session):
    cache = DbResponseCache(session)
    messages = propose_messages(text="We read the the report.", critiques=[], guidelines=[], feedback="",
                                do_not_repeat=[])
    first = complete(messages, ModelSettings(), cache=cache)
    second = complete(messages, ModelSettings(), cache=cache)
    assert (first.cached, second.cached) == (False, True)
    assert second.content == first.content
    assert session.scalar(select(LlmCacheEntry.key)) == first.params["cache_key"]
