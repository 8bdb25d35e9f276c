"""Counters: atomic increments, batch get and set, and drains that never lose or double an
increment -- on the session's Redis, and in-process without one."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pgkeel.cache import Counters
from pgkeel.db import use_context
from pgkeel.errors import TenantRequired


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
