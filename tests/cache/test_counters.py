"""Counters: atomic increments, batch get and set, and drains that never lose or double an
increment -- on the session's Redis, and in-process without one."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pgkeel.cache import BreakerState, Counters
from pgkeel.db import use_context
from pgkeel.errors import TenantRequired
from pgkeel.redis_client import connect_redis
from tests.redis_faults import TornDownConnection

from .conftest import eventually


@pytest.fixture(params=["redis", "memory"])
def counters(request, pgkeel_redis, cache_prefix) -> Counters:
    redis = pgkeel_redis if request.param == "redis" else None
    return Counters(redis, name="views", prefix=cache_prefix, ttl_s=60)


async def test_increments_batches_and_drains(counters: Counters):
    org, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert await counters.incr(a, org=org) == 1
    assert await counters.incr(a, 4, org=org) == 5
    await counters.set_many({b: 10}, org=org)
    missing = uuid.uuid4()
    assert await counters.get_many([a, b, missing], org=org) == {a: 5, b: 10, missing: 0}
    drained = await counters.drain(org=org)
    assert drained == {str(a): 5, str(b): 10}
    assert await counters.get_many([a], org=org) == {a: 0}
    assert await counters.drain(org=org) == {}
    # Another organization's counters are separate.
    other = uuid.uuid4()
    await counters.incr(a, org=other)
    assert await counters.drain(org=org) == {}
    assert await counters.drain(org=other) == {str(a): 1}


async def test_concurrent_increments_and_drains_lose_nothing(counters: Counters):
    org, car = uuid.uuid4(), uuid.uuid4()
    total = 0

    for _ in range(25):   # 20 increments racing a drain, 25 times
        results = await asyncio.gather(counters.drain(org=org),
                                       *(counters.incr(car, org=org) for _ in range(20)))
        total += sum(results[0].values())
    total += sum((await counters.drain(org=org)).values())
    assert total == 500


async def test_the_organization_comes_from_the_context(counters: Counters):
    with pytest.raises(TenantRequired):
        await counters.incr("x")
    org = uuid.uuid4()
    with use_context(org_id=org):
        await counters.incr("x")
    assert await counters.get_many(["x"], org=org) == {"x": 1}


async def test_a_redis_outage_loses_no_count(own_redis):
    """Increments made while Redis is down are kept in this process (the breaker opens, so
    they cost no round trip), pushed to Redis when it is back, and drained exactly once."""
    redis = connect_redis(own_redis.url, timeout_s=0.2)
    counters = Counters(redis, name="views", ttl_s=60, failure_threshold=2,
                        reset_timeout_s=0.05)
    org, car = uuid.uuid4(), uuid.uuid4()
    try:
        assert await counters.incr(car, org=org) == 1
        own_redis.kill()
        for _ in range(20):
            await counters.incr(car, org=org)
        assert counters.breaker.state is BreakerState.OPEN and counters.pending == 20
        # A drain in this process (the flush job) still gets what was kept.
        assert await counters.drain(org=org) == {str(car): 20}
        for _ in range(5):
            await counters.incr(car, org=org)
        own_redis.start()
        await eventually(lambda: counters.incr(car, org=org), what="a probe")  # any value
        await eventually(lambda: counters.breaker.closed and counters.pending == 0,
                         what="the kept counts pushed")
        total = await counters.drain(org=org)
        # 1 before the outage (AOF: back after the restart) + 5 kept + the probes.
        assert total[str(car)] >= 7
        assert await counters.drain(org=org) == {}
    finally:
        await redis.aclose()


async def test_kept_counts_are_pushed_on_flush_pending(own_redis):
    redis = connect_redis(own_redis.url, timeout_s=0.2)
    counters = Counters(redis, name="views", ttl_s=60, failure_threshold=1,
                        reset_timeout_s=60)
    org, car = uuid.uuid4(), uuid.uuid4()
    try:
        own_redis.kill()
        await counters.incr(car, 3, org=org)
        assert counters.pending == 3 and not counters.breaker.closed
        own_redis.start()
        assert await counters.flush_pending()
        assert counters.pending == 0
        assert await redis.get(counters.key(car, org=org)) == b"3"
    finally:
        await redis.aclose()


async def test_an_error_inside_the_redis_client_loses_no_count(pgkeel_redis_url):
    """redis-py's own error on a connection torn down under the increment: the count is kept
    in this process like any outage's, then pushed, not raised to the caller."""
    if pgkeel_redis_url.startswith("memory://"):
        pytest.skip("needs a Redis server")
    redis = connect_redis(pgkeel_redis_url, timeout_s=2.0,
                          connection_class=TornDownConnection)
    counters = Counters(redis, name=f"torn{uuid.uuid4().hex[:6]}", ttl_s=60,
                        failure_threshold=5, reset_timeout_s=0.05)
    org, car = uuid.uuid4(), uuid.uuid4()
    try:
        assert await counters.incr(car, org=org) == 1
        TornDownConnection.armed = True
        assert await counters.incr(car, org=org) == 1   # this process's share: kept
        assert not TornDownConnection.armed and counters.pending == 1
        await counters.incr(car, org=org)               # pushes the kept one first
        assert counters.pending == 0
        assert await counters.drain(org=org) == {str(car): 3}
    finally:
        TornDownConnection.armed = False
        await redis.aclose()
