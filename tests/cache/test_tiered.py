"""Two tiers: L1 in each process, coherent through pub/sub, bounded by its TTL."""

from __future__ import annotations

import pytest

from pgkeel.cache import MISS, Cache, CacheOptions, TieredBackend, key
from tests.cache.conftest import eventually, redis_backend


@pytest.fixture
async def two_processes(own_redis):
    """Two two-tier caches on one Redis, as two processes of one service would be. Their L1
    TTL is far longer than any wait below, so passing tests prove pub/sub did the work."""
    caches = [Cache(redis_backend(own_redis.url, tiered=True, prefix="t:", l1_ttl_s=120),
                    CacheOptions(prefix="t:")) for _ in range(2)]
    for cache in caches:
        await cache.get(key("warm", 0, org=1))  # starts the listener
    await eventually(lambda: all(c.backend.l1_enabled for c in caches), what="subscriptions")
    yield caches
    for cache in caches:
        await cache.aclose()


def l1_hits(cache: Cache) -> int:
    assert isinstance(cache.backend, TieredBackend)
    return cache.backend.l1_hits


async def test_hits_come_from_l1_without_a_round_trip(two_processes):
    a, _ = two_processes
    k = key("users", 1, org=1)
    await a.set(k, "v")

    async def served_from_l1():
        before = l1_hits(a)
        assert await a.get(k) == "v"
        return l1_hits(a) > before

    await eventually(served_from_l1, what="an L1 hit")  # (after a's own publish arrived)
    before = l1_hits(a)
    assert [await a.get(k) for _ in range(5)] == ["v"] * 5
    assert l1_hits(a) == before + 5


async def test_another_process_s_invalidation_reaches_this_l1(two_processes):
    a, b = two_processes
    k, tagged = key("users", 2, org=1), key("users", 3, org=1)
    await a.set(k, "old")
    await a.set(tagged, "old", tags=["users"])
    assert (await b.get(k), await b.get(tagged)) == ("old", "old")  # now in b's L1
    await a.delete(k)
    await a.invalidate("users", org=1)
    await eventually(_is_miss(b, k), what="b's L1 to drop the key")
    await eventually(_is_miss(b, tagged), what="b's L1 to drop the tagged key")


async def test_another_process_s_write_reaches_this_l1(two_processes):
    a, b = two_processes
    k = key("users", 4, org=1)
    await a.set(k, "old")
    assert await b.get(k) == "old"
    await a.set(k, "new")

    async def b_sees_new():
        return await b.get(k) == "new"

    await eventually(b_sees_new, what="b to see the new value")


async def test_own_invalidations_apply_to_l1_before_returning(two_processes):
    a, _ = two_processes
    k = key("users", 5, org=1)
    await a.set(k, "old", tags=["users"])
    assert await a.get(k) == "old"
    await a.invalidate("users", org=1)
    assert await a.get(k) is MISS  # no waiting for pub/sub


async def test_losing_the_subscription_clears_and_bypasses_l1(two_processes, own_redis):
    a, b = two_processes
    k = key("users", 6, org=1)
    await a.set(k, "old")
    assert await b.get(k) == "old"
    assert await b.get(k) == "old"
    from redis.asyncio import Redis

    admin = Redis.from_url(own_redis.url)
    await admin.client_kill_filter(_type="pubsub")  # both listeners lose their connection
    await a.set(k, "new")  # published while b may be unsubscribed: b must not keep "old"

    async def b_sees_new():
        return await b.get(k) == "new"

    await eventually(b_sees_new, what="b to see the new value")
    await eventually(lambda: b.backend.l1_enabled, what="b to re-subscribe")
    await admin.aclose()


def _is_miss(cache, k):
    async def check():
        return await cache.get(k) is MISS
    return check


async def test_a_fill_replacing_an_undecodable_value_drops_it_from_this_l1(two_processes):
    a, _ = two_processes
    k = key("users", 9, org=1)
    await a.backend.write(a.keyspace.store_key(k), b"not an envelope", 60_000)
    assert await a.get(k) is MISS  # L2 said "valid": L1 now holds the undecodable bytes

    async def load() -> str:
        return "fresh"

    assert await a.get_or_set(k, load) == "fresh"  # replaced under a lease, then filled
    assert await a.get(k) == "fresh"
