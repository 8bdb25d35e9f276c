"""Connecting to Redis (or Valkey) from `REDIS_URL`; `memory://` means no server at all."""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["connect_redis", "ping_redis"]


def connect_redis(url: str, *, timeout_s: float = 0.5) -> Redis | None:
    """An asyncio client with short socket timeouts (a slow Redis must not stall requests),
    or None for `memory://`."""
    if url.startswith("memory://"):
        return None
    return Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                          health_check_interval=30)


async def ping_redis(client: Redis) -> float:
    """Round-trip latency in milliseconds; raises `redis.exceptions.RedisError` when down."""
    started = time.perf_counter()
    if not await client.ping():
        raise RedisError("PING did not answer PONG")
    return (time.perf_counter() - started) * 1000
