"""Stampede control: single-flight in a process, leases across processes."""

from __future__ import annotations

import asyncio

import pytest

from pgkeel.cache import key

pytestmark = pytest.mark.smoke


async def test_200_concurrent_misses_call_the_loader_once(make_cache):
    cache = make_cache()
    k = key("reports", "big", org=1)
    calls = 0
    release = asyncio.Event()

    async def expensive():
        nonlocal calls
        calls += 1
        await release.wait()
        return {"rows": 1000}

    requests = [asyncio.create_task(cache.get_or_set(k, expensive)) for _ in range(200)]
    await asyncio.sleep(0)  # every request has started and joined the flight
    release.set()
    results = await asyncio.gather(*requests)
    assert calls == 1
    assert results == [{"rows": 1000}] * 200


async def test_two_processes_with_200_misses_each_call_the_loader_once(make_cache):
    """Each cache is one process: single-flight inside each, the lease across them."""
    first, second = make_cache(lease_wait_s=60), make_cache(lease_wait_s=60)
    k = key("reports", "shared", org=1)
    calls = 0
    started, release = asyncio.Event(), asyncio.Event()

    async def expensive():
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return "computed"

    a = [asyncio.create_task(first.get_or_set(k, expensive)) for _ in range(200)]
    await started.wait()  # the first process holds the lease
    b = [asyncio.create_task(second.get_or_set(k, expensive)) for _ in range(200)]
    for _ in range(100):
        await asyncio.sleep(0)
    release.set()
    assert set(await asyncio.gather(*a, *b)) == {"computed"}
    assert calls == 1


async def test_a_cancelled_caller_does_not_cancel_the_others(make_cache):
    cache = make_cache()
    k = key("reports", "cancel", org=1)
    release = asyncio.Event()

    async def slow():
        await release.wait()
        return 42

    first = asyncio.create_task(cache.get_or_set(k, slow))
    second = asyncio.create_task(cache.get_or_set(k, slow))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == 42
    with pytest.raises(asyncio.CancelledError):
        await first
