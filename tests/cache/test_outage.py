"""Redis dies in the middle of a burst of requests, then comes back.

The server is the test's own (its own port, an fsync-always AOF), killed with SIGKILL and
restarted: after the restart Redis holds every value cached before the outage again, old
ones included. Requirements: no request fails; the breaker opens; writes and their
invalidations made during the outage succeed; after recovery no stale value is served."""

from __future__ import annotations

import asyncio
import random

import pytest
from psycopg import sql
from psycopg.rows import tuple_row
from redis import Redis as SyncRedis

from pgkeel.cache import MISS, BreakerState, Cache, CacheOptions, RedisBackend, TieredBackend, key
from pgkeel.cache.keys import KeySpace
from pgkeel.db import Database, use_context
from pgkeel.redis_client import connect_redis
from tests.cache.conftest import eventually
from tests.redis_faults import TornDownConnection

ROWS = 30


@pytest.fixture
async def rows(pgkeel_db: Database, pgkeel_schema: str) -> sql.Composed:
    table = sql.Identifier(pgkeel_schema, "rows")
    await pgkeel_db.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, v int NOT NULL)")
                            .format(table))
    await pgkeel_db.execute(sql.SQL("INSERT INTO {} SELECT g, 0 FROM generate_series(1, %s) g")
                            .format(table), (ROWS,))
    return sql.SQL("{}").format(table)


def _cache(url: str, *, tiered: bool) -> Cache:
    options = CacheOptions(prefix="outage:", op_timeout_s=0.2, breaker_failures=3,
                           breaker_reset_s=0.1, l1_ttl_s=5.0 if tiered else 0.0)
    client = connect_redis(url, timeout_s=0.2)
    if tiered:
        channel = KeySpace("outage:").channel
        l2 = RedisBackend(client, owns_client=True, publish_channel=channel, origin="t")
        return Cache(TieredBackend(l2, channel=channel, origin="t", l1_ttl_s=5.0), options)
    return Cache(RedisBackend(client, owns_client=True), options)


@pytest.mark.parametrize("tiered", [False, True], ids=["redis", "tiered"])
async def test_redis_killed_mid_burst(own_redis, pgkeel_db, rows, tiered):
    cache = _cache(own_redis.url, tiered=tiered)
    select = sql.SQL("SELECT v FROM {} WHERE id = %s").format(rows)

    async def request(i: int) -> int:
        """One GET /rows/{i}: the cache in front of the database."""
        return await cache.get_or_set(key("rows", i, org=1),
                                      lambda: pgkeel_db.fetch_val(select, (i,)),
                                      ttl=3600, tags=["rows"])

    for i in range(1, ROWS + 1):  # warm: every row cached (and persisted in the AOF)
        assert await request(i) == 0

    served, stop = [], asyncio.Event()

    async def client_loop() -> None:
        rng = random.Random()
        while not stop.is_set():
            served.append(await request(rng.randint(1, ROWS)))  # any exception fails the test
            await asyncio.sleep(0)

    burst = [asyncio.create_task(client_loop()) for _ in range(20)]
    try:
        await _outage(cache, own_redis, pgkeel_db, rows, served)
    finally:
        stop.set()
        results = await asyncio.gather(*burst, return_exceptions=True)
    assert not [r for r in results if r is not None]  # not one request failed

    truth = dict(await pgkeel_db.fetch_all(sql.SQL("SELECT id, v FROM {}").format(rows),
                                           row_factory=tuple_row))
    for i in range(1, ROWS + 1):
        assert await request(i) == truth[i], i
        assert await cache.get(key("rows", i, org=1)) == truth[i]
    assert truth[1] == 1 and truth[11] == 999 and truth[25] == 100
    assert await cache.get(key("rows", 12, org=2)) is MISS
    await cache.aclose()


async def _outage(cache, own_redis, pgkeel_db, rows, served) -> None:
    """Kill Redis mid-burst, write during the outage, restart it, wait for recovery."""
    await eventually(lambda: len(served) > 200, what="the burst to get going")

    own_redis.kill()
    await eventually(lambda: cache.breaker.state is not BreakerState.CLOSED,
                     what="the breaker to open")
    # Once at least: a half-open probe that meets the dead server opens it again.
    assert cache.stats().breaker_opens >= 1

    # Writes during the outage: each commits, and its invalidation is kept for recovery.
    with use_context(org_id=1):
        for i in range(1, 11):
            async with pgkeel_db.transaction() as tx:
                await tx.execute(sql.SQL("UPDATE {} SET v = v + 1 WHERE id = %s").format(rows),
                                 (i,))
                cache.invalidate_on_commit(tx, key("rows", i))
        async with pgkeel_db.transaction() as tx:  # and one by tag: every row changes
            await tx.execute(sql.SQL("UPDATE {} SET v = v + 100 WHERE id > 20").format(rows))
            cache.invalidate_on_commit(tx, "rows")
    await cache.set(key("rows", 11, org=1), 999, tags=["rows"])  # a direct write, too
    await pgkeel_db.execute(sql.SQL("UPDATE {} SET v = 999 WHERE id = 11").format(rows))
    assert len(cache.pending) == 12
    during = len(served)
    await eventually(lambda: len(served) > during + 200, what="requests served by the loader")

    own_redis.start()  # same port, same AOF: the pre-outage values are back in Redis
    # (checked synchronously, before the event loop lets the cache's recovery run)
    with SyncRedis.from_url(own_redis.url) as raw:
        stale = raw.get(cache.redis_key(key("rows", 1, org=1)))
    assert stale is not None and stale.startswith(b"L")  # stale, live as far as Redis knows
    await eventually(lambda: cache.breaker.closed, what="the breaker to close")
    assert len(cache.pending) == 0


async def test_an_invalidation_that_fails_suspends_redis_reads_until_delivered(own_redis):
    """Even below the breaker's failure threshold: one undelivered invalidation stops all
    reads from Redis, so the value it should have removed can never be served."""
    cache = Cache(RedisBackend(connect_redis(own_redis.url, timeout_s=0.2), owns_client=True),
                  CacheOptions(prefix="one:", breaker_failures=100, breaker_reset_s=0.05))
    k = key("rows", 1, org=1)
    await cache.set(k, "old")
    own_redis.kill()
    await cache.delete(k)
    assert cache.breaker.state is BreakerState.OPEN
    assert len(cache.pending) == 1
    assert await cache.get(k) is MISS  # served by nobody while suspended
    own_redis.start()
    await eventually(lambda: cache.breaker.closed, what="recovery")
    assert await cache.get(k) is MISS
    await cache.aclose()


async def test_pending_invalidations_coarsen_to_the_org_epoch_when_too_many(own_redis):
    # Generous time limits: the outage is a refused connection, and a loaded machine must
    # not turn a slow answer into one.
    cache = Cache(RedisBackend(connect_redis(own_redis.url, timeout_s=2.0), owns_client=True),
                  CacheOptions(prefix="many:", max_pending=3, breaker_reset_s=0.05,
                               op_timeout_s=3.0))
    keys = [key("rows", i, org=1) for i in range(10)]
    other = key("rows", 0, org=2)
    for k in [*keys, other]:
        await cache.set(k, "old")
    own_redis.kill()
    await cache.delete(*keys)
    assert len(cache.pending) == 4  # three exact keys + org 1's epoch
    own_redis.start()
    await eventually(lambda: cache.breaker.closed, what="recovery")
    assert [await cache.get(k) for k in keys] == [MISS] * 10  # org 1: all gone
    assert await cache.get(other) == "old"                     # org 2: untouched
    await cache.aclose()


async def test_a_connection_torn_down_under_a_command_is_an_outage_not_an_error(
        pgkeel_redis_url, cache_prefix):
    """The error redis-py raises is an outage like any other: a read falls back to the
    loader, and an invalidation is kept until delivered -- neither reaches the caller."""
    if pgkeel_redis_url.startswith("memory://"):
        pytest.skip("needs a Redis server")
    client = connect_redis(pgkeel_redis_url, timeout_s=2.0, connection_class=TornDownConnection)
    cache = Cache(RedisBackend(client, owns_client=True),
                  CacheOptions(prefix=cache_prefix, breaker_failures=100, breaker_reset_s=0.05))
    k = key("rows", 1, org=1)
    try:
        await cache.set(k, "old")
        TornDownConnection.armed = True
        assert await cache.get_or_set(k, _loader("from the loader")) == "from the loader"
        assert not TornDownConnection.armed, "the fault was injected"

        TornDownConnection.armed = True
        await cache.delete(k)                     # did not raise
        assert not TornDownConnection.armed
        assert len(cache.pending) == 1            # kept ...
        assert await cache.get(k) is MISS         # ... and "old" is never served meanwhile
        await eventually(lambda: cache.breaker.closed and not len(cache.pending),
                         what="recovery")
        assert await cache.get(k) is MISS         # delivered: the old value is gone
    finally:
        TornDownConnection.armed = False
        await cache.aclose()


def _loader(value: str):
    async def load() -> str:
        return value
    return load
