"""Connecting to Redis (or Valkey) from `REDIS_URL`; `memory://` means no server at all.

`connect_redis` is the one way pgkeel opens a client; each use says what it needs. The
service's client (`open_services`) retries a dropped connection once; the cache's has shorter
timeouts and no retries (its circuit breaker decides what to do about failures, not a retry
loop inside a request); `pgkeel cache stats` waits longer for a slow server.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisError

from pgkeel.errors import UsageError

__all__ = ["connect_redis", "is_memory_url", "ping_redis"]


def is_memory_url(url: str) -> bool:
    """True for `memory://`: an in-process stand-in, no Redis server."""
    return url.startswith("memory://")


def connect_redis(url: str, *, timeout_s: float = 0.5, retries: int = 0,
                  max_connections: int = 100, **connection_kwargs: Any) -> Redis:
    """An asyncio client with socket timeouts of `timeout_s` (a slow Redis must not stall
    requests) that retries a failed command `retries` times (with jittered backoff).

    Its pool blocks when all `max_connections` are busy instead of failing at once; the
    caller's own time limit bounds that wait like any other part of the call. The client owns
    the pool: `aclose()` closes both."""
    if is_memory_url(url):
        raise UsageError("memory:// has no Redis server to connect to.",
                         hint="Check is_memory_url(url) first, or set REDIS_URL=redis://...")
    backoff = ExponentialWithJitterBackoff(base=0.01, cap=0.1) if retries else NoBackoff()
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=None, socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s, retry=Retry(backoff, retries),
        health_check_interval=30, **connection_kwargs)
    return Redis.from_pool(pool)


async def ping_redis(client: Redis) -> float:
    """Round-trip latency in milliseconds; raises `redis.exceptions.RedisError` when down."""
    started = time.perf_counter()
    if not await client.ping():
        raise RedisError("PING did not answer PONG")
    return (time.perf_counter() - started) * 1000
