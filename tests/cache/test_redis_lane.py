"""The hit's `MGET` on the Redis backend's own connections (`pgkeel.cache.redis_lane`): it keeps
every check of a hit (tag generations, the epoch), the time limit, the counters, and falls back
to the client when its connections are busy or the client is one it cannot stand in for."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from pgkeel.cache import Cache, CacheOptions, RedisBackend, key
from pgkeel.cache.keys import mget_command
from pgkeel.cache.redis_lane import supported
from pgkeel.redis_client import connect_redis
from tests.cache.conftest import eventually


class Loader:
    def __init__(self, value: Any) -> None:
        self.value = value
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        return self.value


def _redis_cache(url: str, prefix: str, **options: Any) -> Cache:
    hit_connections = options.pop("hit_connections", 8)
    backend = RedisBackend(connect_redis(url, timeout_s=5.0), owns_client=True,
                           hit_connections=hit_connections)
    return Cache(backend, CacheOptions(prefix=prefix, **{"op_timeout_s": 5.0, **options}))


@pytest.fixture
def redis_url(pgkeel_redis_url: str) -> str:
    if pgkeel_redis_url.startswith("memory://"):
        pytest.skip("needs a Redis server")
    return pgkeel_redis_url


def test_the_packed_mget_is_what_redis_py_sends() -> None:
    keys = ("pgkeel:{1}:users:7:get", "pgkeel:{1}:!epoch", "pgkeel:{1}:!tag:caf%C3%A9",
            "préfixe:{1}:x")
    assert mget_command(keys) == b"".join(Connection().pack_command("MGET", *keys))


def test_clients_the_lane_cannot_stand_in_for_use_their_own_mget() -> None:
    url = "redis://127.0.0.1:6379/0"
    assert supported(Redis.from_url(url))
    assert supported(connect_redis(url))
    assert not supported(Redis.from_url(url, decode_responses=True))
    assert not supported(Redis.from_url(url, protocol=3))
    assert not supported(Redis.from_url(url, single_connection_client=True))
    assert RedisBackend(Redis.from_url(url, protocol=3))._lane.size == 0


async def test_hits_on_the_lane_are_counted_and_a_tag_invalidation_makes_a_miss(
        redis_url: str, cache_prefix: str) -> None:
    cache = _redis_cache(redis_url, cache_prefix)
    k = key("users", 1, org=1)
    loader = Loader({"id": 1})
    for _ in range(5):
        assert await cache.get_or_set(k, loader, tags=["users"]) == {"id": 1}
    assert loader.calls == 1
    assert cache.stats().resources["users"]["hits"] == 4
    assert len(cache.backend._lane._made) == 1  # type: ignore[attr-defined]

    await cache.invalidate("users", org=1)
    loader.value = {"id": 1, "v": 2}
    assert await cache.get_or_set(k, loader, tags=["users"]) == {"id": 1, "v": 2}
    assert loader.calls == 2
    await cache.delete(k)
    assert await cache.get_or_set(k, loader, tags=["users"]) == {"id": 1, "v": 2}
    assert loader.calls == 3
    # The org's epoch too: bumping it (what `cache.invalidate` of every key amounts to).
    await cache.backend.invalidate([], [cache.keyspace.epoch_key(1)])
    assert await cache.get_or_set(k, loader, tags=["users"]) == {"id": 1, "v": 2}
    assert loader.calls == 4
    assert await cache.get_or_set(k, loader, tags=["users"]) == {"id": 1, "v": 2}
    assert loader.calls == 4
    stats = cache.stats().resources["users"]
    assert (stats["hits"], stats["misses"]) == (5, 4)
    await cache.aclose()


async def test_when_the_lane_is_busy_hits_go_through_the_client(redis_url: str,
                                                                 cache_prefix: str) -> None:
    cache = _redis_cache(redis_url, cache_prefix, hit_connections=1)
    keys = [key("rows", i, org=1) for i in range(30)]
    for i, k in enumerate(keys):
        await cache.set(k, i)
    loader = Loader(None)
    results = await asyncio.gather(*(cache.get_or_set(k, loader) for k in keys))
    assert results == list(range(30))
    assert loader.calls == 0
    assert len(cache.backend._lane._made) == 1  # type: ignore[attr-defined]
    assert cache.stats().resources["rows"]["hits"] == 30
    await cache.aclose()


async def test_the_time_limit_ends_a_hung_hit_and_the_lane_reconnects(own_redis) -> None:
    cache = Cache(RedisBackend(Redis.from_url(own_redis.url), owns_client=True),
                  CacheOptions(prefix="lane:", op_timeout_s=0.2, breaker_failures=100))
    k, other = key("rows", 1, org=1), key("rows", 2, org=1)
    loader = Loader("fresh")
    await cache.set(k, "cached")
    await cache.set(other, "other")
    assert await cache.get_or_set(k, loader) == "cached"  # the lane's connection is made
    assert own_redis.process is not None
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        assert await asyncio.wait_for(cache.get_or_set(k, loader), 20) == "fresh"
        assert loader.calls == 1
        assert cache.stats().resources["_backend"]["errors"] == 1
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    # The timed-out connection was dropped (its reply may still come): the next hit
    # reconnects and reads its own value, not the hung call's late reply.
    assert await cache.get_or_set(other, loader) == "other"
    for _ in range(3):
        assert await cache.get_or_set(k, loader) == "cached"
    assert loader.calls == 1
    await cache.aclose()


async def test_hits_resume_after_the_server_restarts(own_redis) -> None:
    cache = Cache(RedisBackend(connect_redis(own_redis.url, timeout_s=1.0), owns_client=True),
                  CacheOptions(prefix="lane:", op_timeout_s=1.0, breaker_reset_s=0.05))
    k = key("rows", 2, org=1)
    loader = Loader("fresh")
    await cache.set(k, "cached")
    assert await cache.get_or_set(k, loader) == "cached"
    own_redis.stop()
    own_redis.start()  # the AOF brings the value back; the lane's connection is dead

    async def served_from_redis() -> bool:
        calls = loader.calls
        value = await cache.get_or_set(k, loader)  # never raises: a failure is a load
        return value in ("cached", "fresh") and loader.calls == calls

    await eventually(served_from_redis, what="hits from the restarted server")
    await cache.aclose()
