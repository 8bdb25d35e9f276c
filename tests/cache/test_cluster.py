"""The cache on a real Redis Cluster (3 primaries, 3 replicas, `pgkeel_redis_cluster`).

Every script call names keys of one organization, which share the `{org}` hash tag and so one
slot; calls for several organizations are split by slot. Checked here: reads, fills and leases,
tag generations, invalidations spanning many slots, the two-tier L1 kept honest over cluster
pub/sub, the outbox's Redis Streams sink, and a failover -- a primary killed under load -- with
no failed request and no stale read afterwards.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import uuid
from typing import Any

import pytest
from redis.exceptions import ResponseError

from pgkeel import outbox
from pgkeel.cache import MISS, Cache, CacheOptions, TieredBackend, key
from pgkeel.config import Settings
from pgkeel.outbox import OutboxMessage, decode_entry
from pgkeel.redis_client import cluster_seeds, connect_redis
from pgkeel.testing import ValkeyCluster
from pgkeel.web import Lockout, OnUnavailable, SlidingWindowLimiter
from tests.cache.conftest import eventually, redis_backend

ORGS = 24
"""Enough organizations to land on every primary."""


@pytest.fixture(params=["redis", "tiered"])
async def caches(request: pytest.FixtureRequest, pgkeel_redis_cluster: ValkeyCluster):
    """`caches(n)`: n caches on the cluster sharing a fresh prefix (n processes of a
    service)."""
    prefix = f"cluster-{secrets.token_hex(3)}:"
    made: list[Cache] = []

    def make(count: int = 1, **options: Any) -> list[Cache]:
        for _ in range(count):
            backend = redis_backend(pgkeel_redis_cluster.url, tiered=request.param == "tiered",
                                    prefix=prefix, timeout_s=2.0)
            made.append(Cache(backend, CacheOptions(prefix=prefix,
                                                    **{"op_timeout_s": 2.0, **options})))
        return made[-count:]

    yield make
    for cache in made:
        await cache.aclose()


def test_cluster_urls_name_the_seeds(pgkeel_redis_cluster: ValkeyCluster):
    seeds = cluster_seeds(pgkeel_redis_cluster.url)
    assert seeds is not None and len(seeds.nodes) == 6
    listed = "redis://:pw@127.0.0.1:7000,127.0.0.1:7001/0"
    assert cluster_seeds(listed) == type(seeds)((("127.0.0.1", 7000), ("127.0.0.1", 7001)),
                                                None, "pw", ssl=False)
    assert cluster_seeds("redis://127.0.0.1:6379/0") is None
    assert Settings(redis_url=pgkeel_redis_cluster.url).redis_url == pgkeel_redis_cluster.url


async def test_a_list_of_seeds_connects_to_the_cluster(pgkeel_redis_cluster: ValkeyCluster):
    one, two = pgkeel_redis_cluster.nodes[:2]
    client = connect_redis(f"redis://127.0.0.1:{one.port},127.0.0.1:{two.port}")
    try:
        for org in range(ORGS):  # keys on every primary, through one client
            await client.set(f"seeds:{{{org}}}:k", org)
        assert [int(await client.get(f"seeds:{{{org}}}:k")) for org in range(ORGS)] == \
            list(range(ORGS))
    finally:
        await client.aclose()


async def test_reads_fills_and_leases_on_every_primary(caches):
    first, second = caches(2)
    calls: dict[int, int] = {}

    async def load(org: int) -> dict[str, int]:
        calls[org] = calls.get(org, 0) + 1
        await asyncio.sleep(0.05)
        return {"org": org}

    async def read(cache: Cache, org: int) -> Any:
        return await cache.get_or_set(key("thing", 1, org=org), lambda: load(org), ttl=60)

    results = await asyncio.gather(*(read(c, org) for org in range(ORGS)
                                     for c in (first, second) for _ in range(3)))
    assert results == [{"org": org} for org in range(ORGS) for _ in range(6)]
    # Six concurrent readers per key in two processes: the lease lets one of them load.
    assert max(calls.values()) <= 2, calls
    assert first.breaker.closed and second.breaker.closed
    assert all(await asyncio.gather(*(first.get(key("thing", 1, org=o)) for o in range(ORGS))))


async def test_invalidations_spanning_every_slot(caches):
    (cache,) = caches(1)
    keys = [key("item", i, org=org) for org in range(ORGS) for i in range(3)]
    for k in keys:
        await cache.set(k, str(k), tags=["catalog"])
    assert [await cache.get(k) for k in keys] == [str(k) for k in keys]

    await cache.delete(*keys[::3])  # one call, keys of every organization: split by slot
    assert [await cache.get(k) for k in keys[::3]] == [MISS] * len(keys[::3])
    for org in range(ORGS):  # a tag generation per organization
        await cache.invalidate("catalog", org=org)
    assert [await cache.get(k) for k in keys] == [MISS] * len(keys)
    assert cache.breaker.closed


async def test_two_tier_l1_follows_invalidations_from_another_process(caches):
    reader, writer = caches(2, l1_ttl_s=60.0)
    if not isinstance(reader.backend, TieredBackend):
        pytest.skip("no L1 on the plain Redis backend")
    k = key("profile", 7, org=3)
    await reader.get(k)  # starts the listener
    await eventually(lambda: reader.backend.l1_enabled, what="the L1 subscription")
    await writer.set(k, "old")
    assert await reader.get(k) == "old"  # now in the reader's L1 too
    await writer.set(k, "new")
    await eventually(lambda: _equals(reader, k, "new"), what="the L1 to drop the old value")


async def _equals(cache: Cache, k: Any, value: Any) -> bool:
    return await cache.get(k) == value


async def test_outbox_redis_streams_sink_on_the_cluster(pgkeel_redis_cluster: ValkeyCluster):
    """With a cluster REDIS_URL the relay's default sink writes to the cluster: streams fanned
    out by a template land on several nodes, each in order; a hash-tagged template keeps its
    streams in one slot (one XREAD reads them all); a key of the wrong type fails only its
    event. (Here, before the failover below: one cluster serves the whole module.)"""
    prefix = f"outbox-{secrets.token_hex(3)}"
    settings = Settings(redis_url=pgkeel_redis_cluster.url,
                        outbox_stream=prefix + ":{aggregate_type}")
    sink = outbox.sink_from_settings(settings)
    kinds = [f"kind{i}" for i in range(12)]   # enough streams to reach every primary
    messages = [OutboxMessage(uuid.uuid4(), "x.done", kinds[i % 12], str(i), {"n": i})
                for i in range(120)]
    client = connect_redis(pgkeel_redis_cluster.url, timeout_s=2.0)
    try:
        await client.set(f"{prefix}:broken", "not a stream")
        broken = OutboxMessage(uuid.uuid4(), "x.done", "broken", "0", {})
        results = await sink.publish([*messages[:60], broken, *messages[60:]])
        assert isinstance(results[60], ResponseError)
        assert [r for i, r in enumerate(results) if i != 60] == [None] * 120
        nodes = set()
        for kind in kinds:
            node = client.get_node_from_key(f"{prefix}:{kind}")  # type: ignore[attr-defined]
            nodes.add(str(node.name))
            entries = await client.xrange(f"{prefix}:{kind}")
            got = [decode_entry(fields).id for _, fields in entries]
            assert got == [m.id for m in messages if m.aggregate_type == kind], kind
        assert len(nodes) == 3, "the streams are spread over the primaries"
        await sink.close()
        tagged = outbox.sink_from_settings(settings.model_copy(
            update={"outbox_stream": "{{" + prefix + "}}:{aggregate_type}"}))
        assert await tagged.publish(messages[:2]) == [None, None]
        await tagged.close()
        read = await client.xread({f"{{{prefix}}}:kind0": 0, f"{{{prefix}}}:kind1": 0})
        assert len(read) == 2, "both streams in one slot, one XREAD"
    finally:
        await client.aclose()


async def test_failover_keeps_serving_without_stale_reads(caches, pgkeel_redis_cluster):
    """16 loops read and write at random (no request may fail); a checker -- another process,
    so it never joins their in-flight loads -- reads, writes and reads again keys of its own
    in every organization, in sequence: the second read must see the write, before, during
    and after the failover."""
    options = {"op_timeout_s": 0.5, "breaker_failures": 3, "breaker_reset_s": 0.2}
    cache, checker = caches(2, **options)
    if not isinstance(cache.backend, TieredBackend):
        pytest.skip("one failover is enough: the two-tier run covers its Redis backend too")
    truth = {(org, i): 0 for org in range(ORGS) for i in range(6)}

    async def request(on: Cache, org: int, i: int) -> int:
        async def load() -> int:
            return truth[org, i]
        value: int = await on.get_or_set(key("row", i, org=org), load, ttl=3600)
        return value

    async def write(on: Cache, org: int, i: int) -> None:
        truth[org, i] += 1  # the database write, then its invalidation
        await on.delete(key("row", i, org=org))

    for org, i in truth:
        assert await request(cache, org, i) == 0
    stop = asyncio.Event()
    stale: list[tuple[int, int]] = []
    checked = 0

    async def client() -> None:
        rng = random.Random()
        while not stop.is_set():
            org, i = rng.randrange(ORGS), rng.randrange(5)  # key 5 is the checker's
            if rng.random() < 0.2:
                await write(cache, org, i)
            else:
                await request(cache, org, i)
            await asyncio.sleep(0)

    async def check() -> None:
        nonlocal checked
        while not stop.is_set():
            for org in range(ORGS):
                await request(checker, org, 5)
                await write(checker, org, 5)
                if await request(checker, org, 5) != truth[org, 5]:
                    stale.append((org, 5))
                checked += 1

    loops = [asyncio.create_task(client()) for _ in range(16)]
    loops.append(asyncio.create_task(check()))
    try:
        victim = pgkeel_redis_cluster.primary_of(cache.redis_key(key("row", 0, org=0)))
        await asyncio.to_thread(pgkeel_redis_cluster.kill_primary_of,
                                cache.redis_key(key("row", 0, org=0)))
        assert not victim.running
        await eventually(lambda: all(c.breaker.closed and not len(c.pending)
                                     for c in (cache, checker)), what="the caches to recover")
        after = checked
        await eventually(lambda: checked > after + ORGS, what="checks on the recovered cluster")
    finally:
        stop.set()
        results = await asyncio.gather(*loops, return_exceptions=True)
    assert [r for r in results if r is not None] == [], "a request failed"
    assert stale == [], "a read did not see the write before it"
    for (org, i), value in truth.items():
        assert await request(checker, org, i) == value, (org, i)


async def test_rate_limits_and_lockouts_run_on_the_cluster(pgkeel_redis_cluster: ValkeyCluster):
    client = connect_redis(pgkeel_redis_cluster.url, timeout_s=2.0)
    prefix = f"cluster-rl-{secrets.token_hex(3)}:"
    try:
        limiter = SlidingWindowLimiter(client, name="login", limit=3, window_s=60,
                                       prefix=prefix, on_unavailable=OnUnavailable.CLOSED,
                                       timeout_s=2.0)
        for org in range(ORGS):  # subjects on every primary
            decisions = [await limiter.hit("203.0.113.9", org=org) for _ in range(4)]
            assert [d.allowed for d in decisions] == [True, True, True, False]
        lockout = Lockout(client, name="account", threshold=2, window_s=60, base_s=30,
                          max_s=60, prefix=prefix, on_unavailable=OnUnavailable.CLOSED,
                          timeout_s=2.0)
        results = [await lockout.failure("ada@example.com", org=1) for _ in range(2)]
        assert [r.locked for r in results] == [False, True]
    finally:
        await client.aclose()
