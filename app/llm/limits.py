"""Provider limits: requests in flight to one model endpoint, and optionally requests per minute.

On Redis (the production broker) the limits hold across every worker process: a slot is a member
of a sorted set scored by when its lease ends, so a slot whose holder died frees itself after its
lease. On the embedded broker (one worker process) a semaphore in the process does the same.
litellm's Router has Redis-backed limits too, but only for deployments it routes itself; Emend
calls `litellm.completion` with a project's model string, so the few lines here are simpler.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from functools import lru_cache
from typing import Self

log = logging.getLogger(__name__)

# KEYS[1] slots, each scored by when its lease ends; ARGV: limit, lease seconds, token.
# Returns 1 when the slot is taken.
_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
  return 1
end
return 0
"""
# KEYS[1] request times of the last minute; ARGV: per-minute limit, token. Returns seconds to wait (0: go).
_RATE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - 60)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t, ARGV[2])
  redis.call('EXPIRE', KEYS[1], 120)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(math.max(0.01, tonumber(oldest[2]) + 60 - t))
"""


class ProcessLimits:
    """The limits of one process (the embedded default)."""

    def __init__(self, concurrency: int, per_minute: int | None) -> None:
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._per_minute = per_minute
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self, lease_seconds: float) -> str:
        self._slots.acquire()
        if self._per_minute:
            while (wait := self._rate_wait()) > 0:
                time.sleep(wait)
        return ""

    def _rate_wait(self) -> float:
        with self._lock:
            now = time.monotonic()
            while self._sent and self._sent[0] <= now - 60:
                self._sent.popleft()
            if len(self._sent) < self._per_minute:
                self._sent.append(now)
                return 0.0
            return max(0.01, self._sent[0] + 60 - now)

    def release(self, token: str) -> None:
        self._slots.release()


class RedisLimits:
    """The same limits shared by every process that uses this Redis."""

    def __init__(self, client, key: str, concurrency: int, per_minute: int | None) -> None:
        self._client = client
        self._slots_key = f"emend:model-slots:{key}"
        self._rate_key = f"emend:model-rate:{key}"
        self._concurrency = max(1, concurrency)
        self._per_minute = per_minute
        self._acquire = client.register_script(_ACQUIRE)
        self._rate = client.register_script(_RATE)

    def acquire(self, lease_seconds: float) -> str:
        token = uuid.uuid4().hex
        delay = 0.005
        while not self._acquire(keys=[self._slots_key], args=[self._concurrency, lease_seconds, token]):
            time.sleep(delay)
            delay = min(delay * 2, 0.1)  # a freed slot is taken within 0.1 s
        if self._per_minute:
            while (wait := float(self._rate(keys=[self._rate_key], args=[self._per_minute, token]))) > 0:
                time.sleep(min(wait, 1.0))
        return token

    def release(self, token: str) -> None:
        self._client.zrem(self._slots_key, token)


_process_limits: dict[str, ProcessLimits] = {}
_process_lock = threading.Lock()


def _process(key: str, concurrency: int, per_minute: int | None) -> ProcessLimits:
    with _process_lock:
        if key not in _process_limits:
            _process_limits[key] = ProcessLimits(concurrency, per_minute)
        return _process_limits[key]


@lru_cache(maxsize=8)
def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def for_model(model: str, api_base: str | None, *, concurrency: int, per_minute: int | None,
              redis_url: str | None):
    """The limits of one model endpoint: shared on Redis when `redis_url` is given."""
    key = f"{model}@{api_base or ''}"
    if redis_url:
        return RedisLimits(_redis_client(redis_url), key, concurrency, per_minute)
    return _process(key, concurrency, per_minute)


class Slot:
    """`with Slot(limits, lease) as slot:` holds one request slot; slot.waited is the wait in seconds.
    If Redis does not answer, the call goes on under this process's own limit rather than failing."""

    def __init__(self, limits, lease_seconds: float, fallback) -> None:
        self._limits, self._lease, self._fallback = limits, lease_seconds, fallback
        self.waited = 0.0

    def __enter__(self) -> Self:
        started = time.monotonic()
        try:
            self._token = self._limits.acquire(self._lease)
        except Exception as exc:  # noqa: BLE001 - redis-py raises several kinds of connection error
            log.warning("model limits on Redis unavailable (%s); using this process's own", type(exc).__name__)
            self._limits = self._fallback
            self._token = self._limits.acquire(self._lease)
        self.waited = time.monotonic() - started
        return self

    def __exit__(self, *_exc) -> None:
        try:
            self._limits.release(self._token)
        except Exception as exc:  # noqa: BLE001 - the lease frees the slot if Redis is away now
            log.warning("could not release a model slot on Redis: %s", type(exc).__name__)
