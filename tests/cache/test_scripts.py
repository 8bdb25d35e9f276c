"""The Lua scripts keep Redis's scripting contract: every key a script touches is declared in
KEYS (checked statically, so this runs without Redis, under REDIS_URL=memory:// too), and the
keys of each call share one Cluster slot. The scripts' behaviour is then checked on a Redis
server of the test's own, which also runs when the session has no Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.crc import key_slot

from pgkeel.cache import MISS, Cache, CacheOptions, MemoryBackend, RedisBackend
from pgkeel.cache.keys import KeySpace, key, tag
from pgkeel.cache.scripts import SCRIPTS, declared_keys_check, header, parse_header
from pgkeel.errors import UsageError
from pgkeel.redis_client import connect_redis

from .conftest import own_server


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_script_touches_only_declared_keys(name: str):
    assert declared_keys_check(SCRIPTS[name]) == []


def test_the_declaration_check_finds_a_key_built_from_data():
    script = "local k = redis.call('HGET', KEYS[1], 'f')\nreturn redis.call('GET', k)"
    assert declared_keys_check(script) == ["redis.call('GET', k)"]
    assert declared_keys_check("redis.call('PUBLISH', ARGV[1], 'x')") == []


@pytest.mark.parametrize("org", [uuid.uuid4(), 42, "x" * 300, "a:b{c}"])
def test_the_keys_of_one_call_share_one_cluster_slot(org: Any):
    space = KeySpace("app:")
    store = space.store_key(key("users", 7, org=org), (tag("users", org=org),
                                                      tag("roles:7", org=org)))
    keys = [store.value, store.lease, store.epoch, *store.tags]
    assert len({key_slot(k.encode()) for k in keys}) == 1, keys


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Cache]:
    """A cache on the in-process backend, or on a Redis of this test's own."""
    server = None
    if request.param == "memory":
        backend: Any = MemoryBackend()
    else:
        server = own_server(tmp_path / "redis")
        server.start()
        backend = RedisBackend(connect_redis(server.url, timeout_s=5.0), owns_client=True)
    c = Cache(backend, CacheOptions(prefix="t:", op_timeout_s=5.0))
    try:
        yield c
    finally:
        await c.aclose()
        if server is not None:
            server.stop()


async def test_a_read_naming_no_tags_still_honours_the_stored_ones(cache: Cache):
    """A value filled with tags is valid for a read that names none (or other ones) only
    while those tags are unchanged."""
    org = uuid.uuid4()
    k = key("users", 1, org=org)

    async def load() -> dict[str, int]:
        return {"v": 1}

    assert await cache.get_or_set(k, load, tags=["users", "roles"]) == {"v": 1}
    assert await cache.get(k) == {"v": 1}
    assert await cache.get_or_set(k, load, tags=["users"]) == {"v": 1}
    await cache.invalidate("roles", org=org)
    assert await cache.get(k) is MISS

    async def reload() -> dict[str, int]:
        return {"v": 2}

    assert await cache.get_or_set(k, reload, tags=["users"]) == {"v": 2}
    assert await cache.get(k) == {"v": 2}


def test_the_stored_header_reads_back_and_anything_else_is_not_a_value():
    data = header("17", ["p{1}:!tag:users", "p{1}:!tag:roles%3A7"], ["5", "0"]) + b"pgk1..."
    live, epoch, keys, gens, start = parse_header(data)
    assert (live, epoch, keys, gens, data[start:]) == (
        True, b"17", [b"p{1}:!tag:users", b"p{1}:!tag:roles%3A7"], [b"5", b"0"], b"pgk1...")
    assert parse_header(b"D" + data[1:])[0] is False
    for garbage in (b"", b"pgk1{}", b"L2 0\nonly-one-key\n", b"Lx 0\n", b"X0 0\n"):
        assert parse_header(garbage) is None, garbage


def test_a_prefix_with_a_newline_is_refused():
    with pytest.raises(UsageError):
        KeySpace("a\nb:")


@pytest.fixture
async def raw_cache(tmp_path) -> AsyncIterator[tuple[Cache, RedisBackend, Any]]:
    """A cache on a Redis server of the test's own, with its backend and raw client."""
    server = own_server(tmp_path / "redis")
    server.start()
    client = connect_redis(server.url, timeout_s=5.0)
    backend = RedisBackend(client)
    cache = Cache(backend, CacheOptions(prefix="raw:", op_timeout_s=5.0))
    try:
        yield cache, backend, client
    finally:
        await cache.aclose()
        await client.aclose()
        server.stop()


async def test_a_value_in_another_layout_reads_as_absent_and_is_replaced(raw_cache):
    """A value key holding a hash (how an earlier version stored values) or a string that is
    not a stored value is a miss, never an error: the fill replaces it, and an invalidation
    of a hash deletes it."""
    cache, backend, client = raw_cache
    old, odd, gone = key("users", 1, org=1), key("users", 2, org=1), key("users", 3, org=1)
    await client.hset(cache.redis_key(old), mapping={"v": b"pgk1", "e": b"0"})
    await client.set(cache.redis_key(odd), b"not a value")
    await client.hset(cache.redis_key(gone), mapping={"v": b"pgk1", "e": b"0"})
    assert await cache.get(old) is MISS and await cache.get(odd) is MISS

    async def load() -> str:
        return "fresh"

    assert await cache.get_or_set(old, load) == "fresh"
    assert await cache.get_or_set(odd, load) == "fresh"
    assert await cache.get(old) == "fresh" and await cache.get(odd) == "fresh"
    assert (await client.get(cache.redis_key(old))).startswith(b"L0 ")
    await backend.invalidate([cache.keyspace.store_key(gone)], [])
    assert await client.exists(cache.redis_key(gone)) == 0
    assert cache.breaker.closed


async def test_an_invalidated_value_stays_as_a_stale_value_with_its_ttl(raw_cache):
    cache, backend, client = raw_cache
    k = key("users", 1, org=1)
    await cache.set(k, "v1", ttl=300)
    await backend.invalidate([cache.keyspace.store_key(k)], [])
    stored = await client.get(cache.redis_key(k))
    assert stored.startswith(b"D0 ")
    assert await client.pttl(cache.redis_key(k)) > 200_000  # 300 s, jittered
    assert await cache.get(k) is MISS
