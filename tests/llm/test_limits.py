"""Provider limits on Redis hold across worker processes; a dead holder's slot frees itself."""
from __future__ import annotations

import multiprocessing
import os
import time
import uuid

import pytest

from app.llm import limits

REDIS_URL = os.environ.get("EMEND_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="EMEND_TEST_REDIS_URL is not set")


def _worker_process(url: str, model: str, calls: int, queue) -> None:
    """One 'worker process': its own client and limits object; only Redis is shared."""
    from concurrent.futures import ThreadPoolExecutor

    shared = limits.for_model(model, None, concurrency=3, per_minute=None, redis_url=url)

    def call(_i: int):
        token = shared.acquire(lease_seconds=30)
        start = time.monotonic()
        time.sleep(0.15)
        end = time.monotonic()
        shared.release(token)
        return start, end

    with ThreadPoolExecutor(4) as pool:
        queue.put(list(pool.map(call, range(calls))))


@needs_redis
@pytest.mark.redis
def test_concurrency_holds_across_processes():
    model = f"test/{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker_process, args=(REDIS_URL, model, 6, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    intervals = [iv for _ in procs for iv in queue.get(timeout=60)]
    for proc in procs:
        proc.join(10)
    assert len(intervals) == 12
    # time.monotonic is one clock for every process on the machine
    peak = max(sum(1 for a, b in intervals if a <= start < b) for start, _end in intervals)
    assert peak == 3  # 8 threads in two processes wanted in; the limit, and all of it, was used


@needs_redis
@pytest.mark.redis
def test_a_dead_holders_slot_frees_after_its_lease():
    shared = limits.for_model(f"test/{uuid.uuid4().hex}", None, concurrency=1, per_minute=None, redis_url=REDIS_URL)
    shared.acquire(lease_seconds=0.4)  # never released: its worker was killed
    started = time.monotonic()
    token = shared.acquire(lease_seconds=30)
    waited = time.monotonic() - started
    shared.release(token)
    assert 0.3 <= waited < 5


@needs_redis
@pytest.mark.redis
def test_requests_per_minute_on_redis():
    shared = limits.for_model(f"test/{uuid.uuid4().hex}", None, concurrency=5, per_minute=3, redis_url=REDIS_URL)
    waits = [float(shared._rate(keys=[shared._rate_key], args=[3, uuid.uuid4().hex])) for _ in range(4)]
    assert waits[:3] == [0, 0, 0] and 55 < waits[3] <= 60


def test_requests_per_minute_in_one_process(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(limits.time, "monotonic", lambda: clock[0])
    local = limits.ProcessLimits(concurrency=5, per_minute=2)
    assert local._rate_wait() == 0 and local._rate_wait() == 0
    assert local._rate_wait() == pytest.approx(60)
    clock[0] += 61
    assert local._rate_wait() == 0


def test_an_unreachable_redis_falls_back_to_the_process_limit():
    shared = limits.RedisLimits(limits._redis_client("redis://127.0.0.1:1/0"), "x", 1, None)
    local = limits.ProcessLimits(concurrency=1, per_minute=None)
    with limits.Slot(shared, 30, local) as slot:
        assert slot._limits is local
    assert local._slots.acquire(blocking=False)  # released again
