"""`python -m bench.ab_cache`: the Redis cache hit, pgkeel `Cache.get_or_set` vs a raw redis-py
GET + orjson.loads, in one process, interleaved blocks (AB_BLOCKS x 150 operations each, 8 by
default), one key. Prints the median wall time of each and their ratio, and the client CPU
time per operation (process time over each block: what the caller's process spends, which a
loaded machine disturbs less than wall time).

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
    user = {"id": 1, "email": "a@example.com", "display_name": "A"}
    await raw.set(PREFIX + "raw", orjson.dumps(user), ex=300)

    async def load() -> dict[str, Any]:
        return user

    async def keel() -> object:
        return await cache.get_or_set(cache.key("user", 1), load, ttl=300)

    async def plain() -> object:
        data = await raw.get(PREFIX + "raw")
        return orjson.loads(data)

    timings: dict[str, list[int]] = {"pgkeel": [], "raw": []}
    cpu: dict[str, list[float]] = {"pgkeel": [], "raw": []}
    blocks = int(os.environ.get("AB_BLOCKS", "8"))
    shapes: dict[str, Callable[[], Awaitable[object]]] = {"pgkeel": keel, "raw": plain}
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
        await raw.delete(PREFIX + "raw")
        await raw.aclose()
    ours, theirs = (statistics.median(timings[n]) for n in ("pgkeel", "raw"))
    tree = pgkeel.__file__.split("/src/")[0]
    cpu_ours, cpu_theirs = (statistics.median(cpu[n]) for n in ("pgkeel", "raw"))
    print(f"{tree}: pgkeel {ours / 1e3:.0f} us, raw {theirs / 1e3:.0f} us, "
          f"ratio {ours / theirs:.2f}; client CPU per op: pgkeel {cpu_ours / 1e3:.0f} us, "
          f"raw {cpu_theirs / 1e3:.0f} us, ratio {cpu_ours / cpu_theirs:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
