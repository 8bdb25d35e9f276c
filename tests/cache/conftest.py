"""Cache fixtures: caches on every backend (the same tests must pass on each), a Redis server
of the test's own (to stop and restart it), and a connection class that counts round trips.

Everything talks to real servers: the session's Redis/Valkey (under the session's key prefix)
or a server the test starts itself on its own port."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from pgkeel.cache import Cache, CacheOptions, MemoryBackend, RedisBackend, TieredBackend
from pgkeel.cache.keys import KeySpace
from pgkeel.redis_client import connect_redis
from pgkeel.testing.valkey import ValkeyProcess, find_valkey_server

BACKENDS = ["memory", "redis", "tiered"]


class CountingConnection(Connection):
    """A real connection that counts what it sends: one `send_packed_command` is one round
    trip (a pipeline sends all its commands in one)."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        await super().send_packed_command(command, check_health)


def counting_client(url: str) -> Redis:
    return connect_redis(url, timeout_s=2.0, connection_class=CountingConnection)


def redis_backend(url: str, *, tiered: bool, prefix: str, timeout_s: float = 2.0,
                  l1_ttl_s: float = 5.0) -> RedisBackend | TieredBackend:
    client = connect_redis(url, timeout_s=timeout_s)
    if not tiered:
        return RedisBackend(client, owns_client=True)
    origin = secrets.token_hex(4)
    channel = KeySpace(prefix).channel
    l2 = RedisBackend(client, owns_client=True, publish_channel=channel, origin=origin)
    return TieredBackend(l2, channel=channel, origin=origin, l1_ttl_s=l1_ttl_s)


MakeCache = Callable[..., Cache]


@pytest.fixture
def cache_prefix(pgkeel_redis_prefix: str) -> str:
    """A prefix of this test's own, under the session's."""
    return f"{pgkeel_redis_prefix}{secrets.token_hex(3)}:"


@pytest.fixture(params=BACKENDS)
async def make_cache(request: pytest.FixtureRequest, pgkeel_redis_url: str,
                     cache_prefix: str) -> AsyncIterator[MakeCache]:
    """`make_cache(**options)`: a Cache on this test's backend. Caches made by one test share
    the store (one Redis, or one MemoryBackend), like several processes of one service."""
    kind: str = request.param
    if kind != "memory" and pgkeel_redis_url.startswith("memory://"):
        pytest.skip("needs a Redis server")
    shared_memory = MemoryBackend()
    caches: list[Cache] = []

    def make(**options: Any) -> Cache:
        # A generous per-call timeout: these tests check consistency, not outage handling
        # (test_outage.py sets its own short one), and a loaded 2-core CI machine can stall
        # a call past the production default of 0.25 s -- which would skip a fill unseen.
        opts = CacheOptions(prefix=cache_prefix, **{"breaker_reset_s": 0.05,
                                                    "op_timeout_s": 5.0, **options})
        if kind == "memory":
            backend: Any = shared_memory
        else:
            backend = redis_backend(pgkeel_redis_url, tiered=kind == "tiered",
                                    prefix=cache_prefix)
        cache = Cache(backend, opts)
        caches.append(cache)
        return cache

    make.kind = kind  # type: ignore[attr-defined]
    yield make
    for cache in caches:
        await cache.aclose()


def own_server(home: Path) -> ValkeyProcess:
    """A Redis-compatible server of the test's own (Valkey from the embedded wheel, else
    redis-server), with an fsync-always AOF so a kill -9 loses nothing: after a restart the
    old cached values are back, exactly what must not be served. Not started yet."""
    if find_valkey_server() is None:
        pytest.skip("no valkey-server or redis-server")
    return ValkeyProcess(home, appendonly=True)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ValkeyProcess]:
    server = own_server(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def eventually(check: Callable[[], Any], *, timeout_s: float = 30.0,
                     what: str = "condition") -> None:
    """Poll an (async or sync) check until it is truthy; a deadline, not a timing claim."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
