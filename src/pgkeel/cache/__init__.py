"""The cache: look-aside caching in Redis that never serves a value older than a committed write.

Public API:
    Cache, CacheOptions                  the cache and its knobs (`pgkeel.cache.cache`)
    CacheKey, Tag, key, tag, KeySpace    injective keys `pgkeel:{org}:resource:id:action`
    GLOBAL                               `org=GLOBAL`: the only way to a key of no organization
    TTL, jittered                        TTL tiers with +/-10% jitter
    MISS, Codec, JsonCodec, TypedCodec   the miss sentinel and value codecs
    CachedFunction                       what `cache.cached(...)` returns
    Counters                             atomic counters (incr, get_many, set_many, drain)
    cached, default_cache, current_cache `@cached("users")` at module level: bound lazily
                                         to the cache open at call time (the lifespan's)
    CacheStats                           `cache.stats()`
    CacheBackend, MemoryBackend, RedisBackend, TieredBackend   the backends
    BreakerState                         the circuit breaker's states

See docs/cache.md for the guarantees (leases, generations, outages) and their limits.
"""

from pgkeel.cache.backend import CacheBackend
from pgkeel.cache.breaker import BreakerState
from pgkeel.cache.cache import Cache
from pgkeel.cache.counters import Counters
from pgkeel.cache.decorator import CachedFunction, cached, current_cache, default_cache
from pgkeel.cache.envelope import MISS, Codec, JsonCodec, Missing, TypedCodec
from pgkeel.cache.keys import GLOBAL, CacheKey, KeySpace, Tag, key, tag
from pgkeel.cache.memory_backend import MemoryBackend
from pgkeel.cache.metrics import CacheStats
from pgkeel.cache.options import CacheOptions
from pgkeel.cache.redis_backend import RedisBackend
from pgkeel.cache.tiered import TieredBackend
from pgkeel.cache.ttl import TTL, jittered

__all__ = [
    "GLOBAL",
    "MISS",
    "TTL",
    "BreakerState",
    "Cache",
    "CacheBackend",
    "CacheKey",
    "CacheOptions",
    "CacheStats",
    "CachedFunction",
    "Counters",
    "Codec",
    "JsonCodec",
    "KeySpace",
    "MemoryBackend",
    "Missing",
    "RedisBackend",
    "Tag",
    "TieredBackend",
    "TypedCodec",
    "cached",
    "current_cache",
    "default_cache",
    "jittered",
    "key",
    "tag",
]
