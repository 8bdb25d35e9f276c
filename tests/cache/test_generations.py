"""Group invalidation is O(1): a tag covering 10,000 keys is invalidated in one round trip.

Counted two ways on a Redis server of the test's own (so nothing else runs commands on it):
the client's sent packets (one per round trip) and the server's INFO commandstats."""

from __future__ import annotations

import asyncio

from pgkeel.cache import MISS, Cache, CacheOptions, RedisBackend, key
from tests.cache.conftest import CountingConnection, counting_client


async def _commandstats(client) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def test_invalidating_a_tag_of_10000_keys_is_one_round_trip(own_redis):
    client = counting_client(own_redis.url)
    await client.config_set("appendonly", "no")  # this test needs no durability
    cache = Cache(RedisBackend(client, owns_client=True),
                  CacheOptions(prefix="gen:", op_timeout_s=5.0))
    keys = [key("items", i, org=1) for i in range(10_000)]
    for start in range(0, len(keys), 250):
        await asyncio.gather(*[cache.set(k, i, tags=["catalog"])
                               for i, k in enumerate(keys[start:start + 250], start)])
    assert cache.breaker.closed
    assert await cache.get(keys[1234]) == 1234
    await cache.invalidate("warm-up", org=1)  # loads the script: once per server lifetime
    dbsize = await client.dbsize()

    before, sent_before = await _commandstats(client), CountingConnection.sent
    await cache.invalidate("catalog", org=1)
    sent = CountingConnection.sent - sent_before
    after = await _commandstats(client)

    assert sent == 1
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert delta["evalsha"] == 1
    for sweep in ("keys", "scan", "del", "unlink", "hscan", "sscan", "spop"):
        assert delta.get(sweep, 0) == 0, sweep
    assert await client.dbsize() == dbsize + 1  # the tag's generation; no value key touched
    assert await client.exists("gen:{1}:!tag:catalog") == 1

    results = []
    for start in range(0, len(keys), 250):
        results += await asyncio.gather(*[cache.get(k) for k in keys[start:start + 250]])
    assert results == [MISS] * 10_000
    await cache.aclose()


async def test_a_hit_is_one_mget_and_runs_no_script(own_redis):
    """A valid value is read with one MGET of the value, the epoch and the named tags, and
    checked in the client: no Lua runs on a hit, and it is one round trip."""
    client = counting_client(own_redis.url)
    cache = Cache(RedisBackend(client, owns_client=True),
                  CacheOptions(prefix="hit:", op_timeout_s=5.0))
    k = key("users", 7, org=1)

    async def load() -> dict[str, int]:
        return {"id": 7}

    assert await cache.get_or_set(k, load, tags=["users"]) == {"id": 7}
    before, sent_before = await _commandstats(client), CountingConnection.sent
    for _ in range(20):
        assert await cache.get_or_set(k, load, tags=["users"]) == {"id": 7}
    sent = CountingConnection.sent - sent_before
    after = await _commandstats(client)
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    # The hits' MGETs go on the backend's own connection, written to its stream directly:
    # nothing through the client, and the server ran 20 commands, all MGETs (one command
    # each on a connection that sends nothing else: one round trip each).
    assert sent == 0
    delta.pop("info")
    assert {name: n for name, n in delta.items() if n} == {"mget": 20}
    # A read naming none of the value's tags: the MGET, then one READ naming the tags the
    # value was seen stored with.
    before = await _commandstats(client)
    sent_before = CountingConnection.sent
    assert await cache.get(k) == {"id": 7}
    sent = CountingConnection.sent - sent_before
    after = await _commandstats(client)
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert sent == 1
    assert (delta.get("mget"), delta.get("evalsha")) == (1, 1)
    await cache.invalidate("users", org=1)  # and the check still sees a bumped generation
    assert await cache.get(k) is MISS
    await cache.aclose()
