"""`python -m bench.ab_cache`: the Redis cache hit, pgkeel `Cache.get_or_set` vs a raw redis-py
GET + orjson.loads, in one process, interleaved blocks (AB_BLOCKS x 150 operations each, 8 by
default), one key. Prints the median wall time of each and their ratio, and the client CPU
time per operation (process time over each block: what the caller's process spends, which a
loaded machine disturbs less than wall time). Where the Redis backend has its own hit
connections (`hit_connections`), a third contender, `pgkeel_client`, sends the hit's MGET
through the client instead (`hit_connections=0`), and its CPU is printed too.

Run it under two trees to compare them on the same load, alternating:

    PYTHONPATH=/path/to/old/src python -m bench.ab_cache
    python -m bench.ab_cache
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

import pgkeel
from pgkeel.cache import Cache, CacheOptions, RedisBackend
from pgkeel.db import use_context

PREFIX = f"pgkeel-bench-ab:{os.getpid()}:"


async def main() -> None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    cache = Cache(RedisBackend(aioredis.Redis.from_url(url), owns_client=True),
                  CacheOptions(prefix=PREFIX, default_ttl_s=300))
    raw = aioredis.Redis.from_url(url)
    try:
        through_client: Cache | None = Cache(
            RedisBackend(aioredis.Redis.from_url(url), owns_client=True, hit_connections=0),
            CacheOptions(prefix=PREFIX, default_ttl_s=300))
    except TypeError:  # a tree from before the hit's own connections
        through_client = None
    user = {"id": 1, "email": "a@example.com", "display_name": "A"}
    await raw.set(PREFIX + "raw", orjson.dumps(user), ex=300)

    async def load() -> dict[str, Any]:
        return user

    async def keel() -> object:
        return await cache.get_or_set(cache.key("user", 1), load, ttl=300)

    async def plain() -> object:
        data = await raw.get(PREFIX + "raw")
        return orjson.loads(data)

    async def keel_client() -> object:
        assert through_client is not None
        return await through_client.get_or_set(through_client.key("user", 1), load, ttl=300)

    blocks = int(os.environ.get("AB_BLOCKS", "8"))
    shapes: dict[str, Callable[[], Awaitable[object]]] = {"pgkeel": keel, "raw": plain}
    if through_client is not None:
        shapes["pgkeel_client"] = keel_client
    timings: dict[str, list[int]] = {name: [] for name in shapes}
    cpu: dict[str, list[float]] = {name: [] for name in shapes}
    try:
        with use_context(org_id=1):
            await keel()
            for _ in range(blocks):
                for name, fn in shapes.items():
                    cpu_began = time.process_time_ns()
                    for _ in range(150):
                        began = time.perf_counter_ns()
                        await fn()
                        timings[name].append(time.perf_counter_ns() - began)
                    cpu[name].append((time.process_time_ns() - cpu_began) / 150)
    finally:
        await cache.aclose()
        if through_client is not None:
            await through_client.aclose()
        await raw.delete(PREFIX + "raw")
        await raw.aclose()
    ours, theirs = (statistics.median(timings[n]) for n in ("pgkeel", "raw"))
    tree = pgkeel.__file__.split("/src/")[0]
    cpu_ours, cpu_theirs = (statistics.median(cpu[n]) for n in ("pgkeel", "raw"))
    print(f"{tree}: pgkeel {ours / 1e3:.0f} us, raw {theirs / 1e3:.0f} us, "
          f"ratio {ours / theirs:.2f}; client CPU per op: pgkeel {cpu_ours / 1e3:.0f} us, "
          f"raw {cpu_theirs / 1e3:.0f} us, ratio {cpu_ours / cpu_theirs:.2f}")
    if "pgkeel_client" in cpu:
        via = statistics.median(cpu["pgkeel_client"])
        print(f"  pgkeel with the MGET through the client: client CPU per op {via / 1e3:.0f} "
              f"us, ratio {via / cpu_theirs:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
