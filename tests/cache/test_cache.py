"""The Cache API on every backend: the in-process and two-tier backends must behave exactly
like Redis for the same cases (each test runs on memory, redis and tiered)."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgkeel.cache import MISS, TTL, Cache, JsonCodec, TypedCodec, jittered, key
from pgkeel.cache.envelope import UndecodableValue, decode, encode
from pgkeel.cache.keys import Tag
from pgkeel.errors import UsageError
from tests.cache.conftest import eventually

pytestmark = pytest.mark.smoke


class Loader:
    """A loader that counts its calls and returns `value` (or the next of `values`)."""

    def __init__(self, *values):
        self.values = list(values)
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        await asyncio.sleep(0)
        return self.values[min(self.calls, len(self.values)) - 1]


async def paused_fill(cache: Cache, cache_key, value):
    """Start `cache.get_or_set` with a loader that blocks until released; return once the
    loader is running, as (the fill task, the event that releases it)."""
    filling, release = asyncio.Event(), asyncio.Event()

    async def slow():
        filling.set()
        await release.wait()
        return value

    fill = asyncio.create_task(cache.get_or_set(cache_key, slow))
    await filling.wait()
    return fill, release


async def test_get_set_delete_and_miss(make_cache):
    cache = make_cache()
    k = key("users", 1, org=1)
    assert await cache.get(k) is MISS
    await cache.set(k, {"name": "ada"})
    assert await cache.get(k) == {"name": "ada"}
    await cache.delete(k)
    assert await cache.get(k) is MISS


async def test_one_string_as_tags_is_refused(make_cache):
    """`tags="users"` would be the tags u, s, e, r, s: refused, on reads and writes alike."""
    cache = make_cache()
    k = key("users", 9, org=1)
    with pytest.raises(UsageError, match="not one string"):
        await cache.get_or_set(k, Loader(1), tags="users")
    with pytest.raises(UsageError, match="not one string"):
        await cache.set(k, 1, tags="users")
    assert await cache.get(k) is MISS


async def test_a_cached_none_is_a_hit_not_a_miss(make_cache):
    cache = make_cache()
    k = key("users", 2, org=1)
    await cache.set(k, None)
    assert await cache.get(k) is None
    loader = Loader("loaded")
    assert await cache.get_or_set(k, loader) is None
    assert loader.calls == 0


async def test_get_or_set_loads_once_then_hits(make_cache):
    cache = make_cache()
    k = key("users", 3, org=1)
    loader = Loader({"id": 3})
    assert await cache.get_or_set(k, loader) == {"id": 3}
    assert await cache.get_or_set(k, loader) == {"id": 3}
    assert loader.calls == 1
    counters = cache.stats().resources["users"]
    assert counters["hits"] == 1 and counters["misses"] == 1 and counters["sets"] == 1


async def test_negative_results_are_cached_with_their_own_ttl(make_cache, pgkeel_redis):
    cache = make_cache(negative_ttl_s=5)
    k = key("users", 404, org=1)
    loader = Loader(None, {"id": 404})
    assert await cache.get_or_set(k, loader, ttl=TTL.DAY) is None
    assert await cache.get_or_set(k, loader, ttl=TTL.DAY) is None
    assert loader.calls == 1
    if make_cache.kind != "memory":
        pttl = await pgkeel_redis.pttl(cache.redis_key(k))
        assert 0 < pttl <= 5_500
    positive = key("users", 405, org=1)
    await cache.get_or_set(positive, Loader({"id": 405}), ttl=TTL.DAY)
    if make_cache.kind != "memory":
        pttl = await pgkeel_redis.pttl(cache.redis_key(positive))
        assert TTL.DAY * 900 <= pttl <= TTL.DAY * 1100


async def test_tag_invalidation_drops_every_tagged_key_and_nothing_else(make_cache):
    cache = make_cache()
    tagged = [key("users", i, org=1) for i in range(5)]
    other_org = key("users", 0, org=2)
    untagged = key("users", 99, org=1)
    for k in tagged:
        await cache.set(k, k.id, tags=["users"])
    await cache.set(other_org, "b", tags=["users"])
    await cache.set(untagged, "u")
    await cache.invalidate("users", org=1)
    assert [await cache.get(k) for k in tagged] == [MISS] * 5
    assert await cache.get(other_org) == "b"  # tags are per organization
    assert await cache.get(untagged) == "u"
    await cache.set(tagged[0], "again", tags=["users"])  # new values live under the new gen
    assert await cache.get(tagged[0]) == "again"


async def test_a_value_with_several_tags_dies_with_any_of_them(make_cache):
    cache = make_cache()
    k = key("customer", 7, "tags", org=1)
    await cache.set(k, ["vip"], tags=["customer:7", "tags"])
    await cache.invalidate(Tag("tags", org=1))
    assert await cache.get(k) is MISS


@given(garbage=st.binary(max_size=200))
def test_garbage_never_decodes(garbage):
    with pytest.raises(UndecodableValue):
        decode(b"x" + garbage, JsonCodec())
    with pytest.raises(UndecodableValue):
        decode(b"pgk1" + garbage.replace(b"\n", b""), JsonCodec())


@pytest.mark.parametrize("garbage", [
    b"", b"\x00\xff", b"pgk1", b"pgk1[1,2]\n{", b"pgk2[0,0,0,false,\"json\"]\n1",
    b'pgk1[0,0,0,false,"typed:User"]\n1', b"not json at all",
])
async def test_an_undecodable_value_is_a_miss_and_gets_replaced(make_cache, garbage):
    cache = make_cache()
    k = key("users", 8, org=1)
    store_key = cache.keyspace.store_key(k)
    await cache.backend.write(store_key, garbage, 60_000)
    assert await cache.get(k) is MISS
    assert cache.stats().resources["users"]["errors"] == 1
    loader = Loader("fresh")
    assert await cache.get_or_set(k, loader) == "fresh"
    assert await cache.get(k) == "fresh"


def test_envelope_round_trip_and_schema_check():
    data = encode({"a": 1}, JsonCodec(), ttl_s=60, delta_s=0.5, now=1000.0)
    decoded = decode(data, JsonCodec())
    assert decoded.value == {"a": 1}
    assert (decoded.created, decoded.delta, decoded.expiry) == (1000.0, 0.5, 1060.0)
    with pytest.raises(UndecodableValue):
        decode(data, TypedCodec(int))


def test_ttl_jitter_stays_within_ten_percent():
    draws = [jittered(TTL.MEDIUM) for _ in range(20_000)]
    assert min(draws) >= 270 and max(draws) <= 330
    assert max(draws) - min(draws) > 50  # and does spread
    assert [int(t) for t in TTL] == [60, 300, 3600, 86_400, 604_800]


async def test_stored_ttls_are_jittered(make_cache, pgkeel_redis):
    if make_cache.kind == "memory":
        pytest.skip("reads PTTL from Redis")
    cache = make_cache()
    pttls = []
    for i in range(40):
        k = key("users", i, org=5)
        await cache.set(k, i, ttl=TTL.MEDIUM)
        pttls.append(await pgkeel_redis.pttl(cache.redis_key(k)))
    assert all(269_000 <= p <= 330_000 for p in pttls)
    assert len(set(pttls)) > 1


async def test_xfetch_refreshes_a_value_before_it_expires(make_cache):
    eager = make_cache(xfetch_beta=1e9)
    k = key("users", 10, org=1)

    async def slow():
        slow.calls += 1
        await asyncio.sleep(0.005)  # a recompute time XFetch can scale
        return slow.calls
    slow.calls = 0

    assert await eager.get_or_set(k, slow) == 1
    assert await eager.get_or_set(k, slow) == 2  # refreshed early, under a lease
    assert eager.stats().resources["users"]["early_refreshes"] == 1
    never = make_cache(xfetch_beta=0)
    assert await never.get_or_set(k, slow) == 2
    assert await never.get_or_set(k, slow) == 2


@dataclass
class Row:
    id: int
    at: dt.datetime


async def test_typed_codec_round_trips_datetimes_and_models(make_cache):
    cache = make_cache()
    k = key("rows", 1, org=1)
    row = Row(1, dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    await cache.set(k, row, codec=TypedCodec(Row))
    assert await cache.get(k, codec=TypedCodec(Row)) == row
    assert await cache.get(k) is MISS  # another schema: a miss, never an exception


async def test_loader_errors_propagate_and_release_the_lease(make_cache):
    cache = make_cache(lease_wait_s=30)
    k = key("users", 11, org=1)

    async def boom():
        raise RuntimeError("database said no")

    with pytest.raises(RuntimeError):
        await cache.get_or_set(k, boom)
    # The lease was given back: the next miss loads at once instead of waiting 30 s.
    assert await cache.get_or_set(k, Loader("ok")) == "ok"


async def test_stale_ok_serves_the_invalidated_value_while_another_process_fills(make_cache):
    a, b = make_cache(), make_cache()
    k = key("users", 12, org=1)
    await a.set(k, "old")
    await a.delete(k)
    filling, release = asyncio.Event(), asyncio.Event()

    async def slow_new():
        filling.set()
        await release.wait()
        return "new"

    fill = asyncio.create_task(a.get_or_set(k, slow_new))
    await filling.wait()
    assert await b.get_or_set(k, Loader("b-loaded"), stale_ok=True) == "old"
    assert b.stats().resources["users"]["stale_served"] == 1
    release.set()
    assert await fill == "new"
    assert await b.get(k) == "new"


async def test_a_miss_waits_for_the_lease_holder_s_fill(make_cache):
    a, b = make_cache(), make_cache(lease_wait_s=30)
    k = key("users", 13, org=1)
    fill, release = await paused_fill(a, k, "from-a")
    loader_b = Loader("from-b")
    waiter = asyncio.create_task(b.get_or_set(k, loader_b))
    await eventually(lambda: b.stats().resources.get("users", {}).get("lease_waits"),
                     what="b to find the lease taken")
    release.set()
    assert await waiter == "from-a"
    assert loader_b.calls == 0
    assert b.stats().resources["users"]["lease_waits"] == 1
    await fill


async def test_a_bounded_wait_takes_the_lease_over(make_cache):
    """The holder may be dead: after lease_wait_s the waiter takes the lease and fills; the
    slow holder's fill is rejected (its lease is gone), so nothing older wins."""
    a, b = make_cache(), make_cache(lease_wait_s=0.01)
    k = key("users", 14, org=1)
    fill, release = await paused_fill(a, k, "from-a")
    assert await b.get_or_set(k, Loader("from-b")) == "from-b"
    release.set()
    assert await fill == "from-a"
    assert await b.get(k) == "from-b"
    assert a.stats().resources["users"]["fills_rejected"] == 1


async def test_set_cancels_a_fill_in_flight(make_cache):
    cache = make_cache()
    k = key("users", 15, org=1)
    fill, release = await paused_fill(cache, k, "loaded-before-the-write")
    await cache.set(k, "written")
    release.set()
    await fill
    assert await cache.get(k) == "written"
    assert cache.stats().resources["users"]["fills_rejected"] == 1


async def test_memory_url_gives_an_in_process_cache(pgkeel_settings):
    cache = Cache.from_settings(pgkeel_settings.model_copy(update={"redis_url": "memory://"}))
    async with cache:
        assert cache.backend.name == "memory"
        k = key("users", 1, org=1)
        await cache.set(k, 1)
        assert await cache.get(k) == 1


async def test_from_settings_builds_redis_or_two_tier(pgkeel_settings, cache_prefix):
    if pgkeel_settings.redis_url.startswith("memory://"):
        pytest.skip("needs Redis")
    plain = Cache.from_settings(pgkeel_settings, prefix=cache_prefix)
    tiered = Cache.from_settings(pgkeel_settings.model_copy(update={"cache_l1_ttl_s": 1.0}),
                                 prefix=cache_prefix)
    async with plain, tiered:
        assert (plain.backend.name, tiered.backend.name) == ("redis", "tiered")
        k = key("users", 1, org=1)
        await plain.set(k, "v")
        assert await tiered.get(k) == "v"
