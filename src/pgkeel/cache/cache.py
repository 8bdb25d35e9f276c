"""`Cache`: look-aside caching in which a write's invalidation rejects every fill begun before it.

Once a write's invalidation reaches Redis (right after COMMIT, before the writer's transaction
block returns), no reader gets the old value and no fill that read before it is stored; in the
window between COMMIT and that delivery, other readers can still get the old value.

The read path (`get_or_set`) is: single-flight in this process -> one Lua round trip that
returns the value if its generations are current, else a lease -> the loader -> a fill that
Redis accepts only while the lease is alive and the generations unchanged. Invalidations
(`delete`, `invalidate`, `invalidate_on_commit`) mark keys dead, cancel their leases and bump
tag generations in one round trip. Redis trouble never fails a call: the breaker opens, reads
go to the loader, and invalidations wait in `pending` until recovery delivers them -- before
anything is read from Redis again. See docs/cache.md for the guarantees and their limits.
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from pgkeel.cache.backend import CacheBackend, LeaseMode
from pgkeel.cache.breaker import CircuitBreaker
from pgkeel.cache.decorator import Decorator, cached
from pgkeel.cache.envelope import MISS, Codec, JsonCodec, encode
from pgkeel.cache.flight import SingleFlight
from pgkeel.cache.guard import BackendGuard, Unavailable
from pgkeel.cache.keys import (
    CONTEXT_ORG,
    GLOBAL,
    CacheKey,
    KeyId,
    KeySpace,
    StoreKey,
    Tag,
    key,
    tag,
)
from pgkeel.cache.metrics import CacheStats, Recorder
from pgkeel.cache.options import CacheOptions
from pgkeel.cache.pending import PendingInvalidations
from pgkeel.cache.read_path import FillPlan, ReadPath, to_ms
from pgkeel.cache.ttl import jittered
from pgkeel.errors import UsageError
from pgkeel.observe import tracing
from pgkeel.redis_client import connect_redis

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from pgkeel.config import Settings
    from pgkeel.db.transaction import Transaction

__all__ = ["Cache"]

T = TypeVar("T")
TagLike = str | Tag
_RENDERED_KEYS = 4096
"""Rendered store keys kept per cache (a hit then renders nothing); cleared when full."""


@dataclass
class _TxBatch:
    keys: dict[str, StoreKey] = field(default_factory=dict)
    gen_keys: set[str] = field(default_factory=set)


class Cache:
    """A cache over one backend (Redis, in-process memory, or two-tier)."""

    def __init__(self, backend: CacheBackend, options: CacheOptions | None = None, *,
                 codec: Codec | None = None) -> None:
        self.backend = backend
        self.options = options or CacheOptions()
        self.codec: Codec = codec or JsonCodec()
        self.keyspace = KeySpace(self.options.prefix, self.options.max_key_length)
        self._recorder = Recorder()
        self._guard = BackendGuard(backend, self.options, self._recorder,
                                   self.keyspace.stats_key)
        self._reads = ReadPath(backend, self._guard, self.options, self._recorder)
        self._flight = SingleFlight()
        self._rendered: dict[tuple[CacheKey, tuple[TagLike, ...]], StoreKey] = {}
        self._plans: dict[tuple[Any, ...], FillPlan] = {}
        # Lease tokens: unique per process and call without a system call per read.
        self._token_prefix = os.urandom(6).hex()
        self._token_count = itertools.count()
        self._batches: weakref.WeakKeyDictionary[Transaction, _TxBatch] = (
            weakref.WeakKeyDictionary())

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker around this cache's backend calls."""
        return self._guard.breaker

    @property
    def pending(self) -> PendingInvalidations:
        """Invalidations waiting for Redis to come back (delivered before it is read again)."""
        return self._guard.pending

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, *, redis: Redis | None = None,
                      codec: Codec | None = None, **overrides: Any) -> Cache:
        """The cache REDIS_URL and the CACHE_* settings describe: Redis, two-tier when
        CACHE_L1_TTL_S > 0, or in-process for `memory://`. `redis`: reuse a client (not
        closed by `aclose`); otherwise the cache opens its own (`connect_redis`), with its
        per-call timeout and without retries."""
        from pgkeel.cache.memory_backend import MemoryBackend
        from pgkeel.cache.redis_backend import RedisBackend
        from pgkeel.cache.tiered import TieredBackend

        options = replace(CacheOptions.from_settings(settings), **overrides)
        url = settings.redis_url
        if url is None:
            raise UsageError("REDIS_URL is unset.",
                             hint="Use open_services() (embedded Valkey), or memory://.")
        backend: CacheBackend
        if url.startswith("memory://"):
            backend = MemoryBackend()
        else:
            client = redis or connect_redis(url, timeout_s=options.op_timeout_s, retries=0)
            keyspace = KeySpace(options.prefix, options.max_key_length)
            if options.l1_ttl_s > 0:
                origin = os.urandom(6).hex()
                l2 = RedisBackend(client, owns_client=redis is None,
                                  publish_channel=keyspace.channel, origin=origin)
                backend = TieredBackend(l2, channel=keyspace.channel, origin=origin,
                                        l1_ttl_s=options.l1_ttl_s,
                                        max_entries=options.l1_max_entries)
            else:
                backend = RedisBackend(client, owns_client=redis is None)
        return cls(backend, options, codec=codec)

    @classmethod
    def memory(cls, options: CacheOptions | None = None, *,
               codec: Codec | None = None) -> Cache:
        """An in-process cache (what `memory://` gives)."""
        from pgkeel.cache.memory_backend import MemoryBackend

        return cls(MemoryBackend(), options, codec=codec)

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- keys ------------------------------------------------------------------------------

    def key(self, resource: str, id: KeyId, action: str = "get", *,
            org: Any = CONTEXT_ORG) -> CacheKey:
        """`pgkeel:{org}:resource:id:action`; `org` defaults to the current context's."""
        return key(resource, id, action, org=org)

    def tag(self, name: str, *, org: Any = CONTEXT_ORG) -> Tag:
        return tag(name, org=org)

    def redis_key(self, cache_key: CacheKey) -> str:
        """The Redis key a `CacheKey` is stored under (for debugging and tests)."""
        return cache_key.render(self.options.prefix, self.options.max_key_length)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, cache_key: CacheKey, *, codec: Codec | None = None) -> Any:
        """The cached value, or `MISS`. A cached None is returned as None."""
        store_key = self.keyspace.store_key(cache_key)
        with tracing.span("pgkeel.cache.get", _attributes(store_key.resource)) as span:
            value = await self._get(store_key, codec)
            if span is not None:
                span.set_attribute("pgkeel.cache.hit", value is not MISS)
            return value

    async def _get(self, store_key: StoreKey, codec: Codec | None) -> Any:
        try:
            result = await self._guard.call(
                lambda: self.backend.read(store_key, LeaseMode.NONE, "", 0))
        except Unavailable:
            return MISS
        if result.is_hit and result.value is not None:
            decoded = self._reads.decode(store_key, result.value, codec or self.codec)
            if decoded is not None:
                self._recorder.add(store_key.resource, "hits")
                return decoded.value
        self._recorder.add(store_key.resource, "misses")
        return MISS

    async def get_or_set(
        self,
        cache_key: CacheKey,
        loader: Callable[[], Awaitable[T]],
        *,
        ttl: float | None = None,
        tags: Iterable[TagLike] = (),
        negative_ttl: float | None = None,
        stale_ok: bool = False,
        codec: Codec | None = None,
    ) -> T:
        """The cached value, or `loader()`'s result, stored under a lease.

        Concurrent calls for one key in this process share one execution; a miss while
        another process fills waits up to `lease_wait_s` for its value (or, with
        `stale_ok=True`, returns the invalidated value at once). A loader result of None is
        cached for `negative_ttl`. Loader errors propagate; Redis errors never do.
        """
        store_key = self._store_key(cache_key, tags)
        plan_key = (ttl, negative_ttl, stale_ok, codec)
        plan = self._plans.get(plan_key)
        if plan is None:
            plan = FillPlan(ttl=ttl, negative_ttl=negative_ttl, stale_ok=stale_ok,
                            codec=codec or self.codec)
            if len(self._plans) < 256:
                self._plans[plan_key] = plan
        token = f"{self._token_prefix}{next(self._token_count):x}"
        reads = self._reads
        with tracing.span("pgkeel.cache.get_or_set", _attributes(store_key.resource)):
            result: T = await self._flight.run_first(
                store_key.value, lambda: reads.start(store_key, plan, token),
                lambda outcome: reads.finish(store_key, loader, plan, token, outcome))
        return result

    def cached(self, resource: str, **options: Any) -> Decorator:
        """A decorator caching an async function's result; see `pgkeel.cache.decorator`."""
        return cached(self, resource, **options)

    # -- writing and invalidating ------------------------------------------------------------

    async def set(self, cache_key: CacheKey, value: Any, *, ttl: float | None = None,
                  tags: Iterable[TagLike] = (), codec: Codec | None = None) -> None:
        """Store `value` unconditionally (cancelling any fill in flight). While Redis is
        unavailable the key is invalidated on recovery instead, so its old value can't
        return."""
        store_key = self.keyspace.store_key(cache_key, self._tags(cache_key.org, tags))
        ttl_s = jittered(ttl or self.options.default_ttl_s, self.options.jitter)
        try:
            data = encode(value, codec or self.codec, ttl_s=ttl_s, delta_s=0.0)
        except Exception as exc:
            raise UsageError(f"The value for {cache_key.resource!r} cannot be encoded: "
                             f"{exc}", hint="Pass a codec= that handles its type.") from exc
        with tracing.span("pgkeel.cache.set", _attributes(store_key.resource)):
            try:
                await self._guard.call(
                    lambda: self.backend.write(store_key, data, to_ms(ttl_s)))
                self._recorder.add(store_key.resource, "sets")
            except Unavailable:
                self._guard.defer([store_key], [])

    async def delete(self, *cache_keys: CacheKey) -> None:
        """Invalidate keys now (their leases too). Never raises; see `pending`."""
        store_keys = [self.keyspace.store_key(k) for k in cache_keys]
        with tracing.span("pgkeel.cache.invalidate", {"pgkeel.cache.keys": len(store_keys),
                                                      "pgkeel.cache.tags": 0}):
            await self._guard.invalidate(store_keys, [])

    async def invalidate(self, *tags: TagLike, org: Any = CONTEXT_ORG) -> None:
        """Invalidate every key stored with any of `tags`, in O(1) each: their generations
        are bumped in one round trip. Plain names are tags of `org` (default: context)."""
        resolved = self._tags(org, tags)
        with tracing.span("pgkeel.cache.invalidate", {"pgkeel.cache.keys": 0,
                                                      "pgkeel.cache.tags": len(resolved)}):
            await self._guard.invalidate([], [t.gen_key(self.options.prefix)
                                              for t in resolved])

    def invalidate_on_commit(self, tx: Transaction, *items: CacheKey | TagLike) -> None:
        """Invalidate these keys and tags once `tx` commits; nothing if it rolls back.

        Plain names are tags of the transaction's organization. Everything named during one
        transaction is delivered together, in one round trip, after COMMIT succeeded -- or
        when COMMIT's outcome is unknown, since invalidating needlessly is harmless and
        keeping a value the commit may have made stale is not. If Redis fails then, it is
        delivered on recovery (see `pending`).
        """
        batch = self._batches.get(tx)
        if batch is None:
            batch = _TxBatch()
            tx.on_commit(lambda: self._deliver(batch), if_unknown=True)
            self._batches[tx] = batch
        for item in items:
            if isinstance(item, CacheKey):
                store_key = self.keyspace.store_key(item)
                batch.keys[store_key.value] = store_key
                continue
            resolved = tag(item, org=tx.context.org_id) if isinstance(item, str) else item
            if not isinstance(resolved, Tag):
                raise UsageError(f"Cannot invalidate a {type(item).__name__}.",
                                 hint="Pass CacheKey, Tag or tag-name arguments.")
            batch.gen_keys.add(resolved.gen_key(self.options.prefix))

    async def _deliver(self, batch: _TxBatch) -> None:
        """A committed transaction's invalidations, in one round trip."""
        with tracing.span("pgkeel.cache.invalidate", {
                "pgkeel.cache.keys": len(batch.keys), "pgkeel.cache.tags": len(batch.gen_keys),
                "pgkeel.cache.on_commit": True}):
            await self._guard.invalidate(list(batch.keys.values()), sorted(batch.gen_keys))

    # -- stats and lifecycle -----------------------------------------------------------------

    def stats(self) -> CacheStats:
        """This process's counters, breaker state and pending invalidations."""
        resources: dict[str, dict[str, int]] = {}
        for (resource, event), amount in self._recorder.local.items():
            resources.setdefault(resource, {})[event] = amount
        return CacheStats(resources=resources, breaker=self.breaker.state.name.lower(),
                          breaker_opens=self.breaker.opened_count,
                          pending_invalidations=len(self.pending), backend=self.backend.name)

    async def flush_stats(self) -> None:
        """Add this process's counters to the service-wide totals in Redis now."""
        await self._guard.flush_stats()

    async def aclose(self) -> None:
        """Try once more to deliver pending invalidations, flush counters, close."""
        if not self._guard.closed:
            await self._guard.close()
            await self.backend.aclose()

    # -- helpers ---------------------------------------------------------------------------

    def _store_key(self, cache_key: CacheKey, tags: Iterable[TagLike]) -> StoreKey:
        """The rendered key, from a bounded memo: rendering is pure in (key, tags)."""
        named = tags if isinstance(tags, tuple) else tuple(_tag_list(tags))
        memo = (cache_key, named)
        try:
            found = self._rendered.get(memo)
        except TypeError:   # an unhashable id part: render it every time
            return self.keyspace.store_key(cache_key, self._tags(cache_key.org, named))
        if found is None:
            found = self.keyspace.store_key(cache_key, self._tags(cache_key.org, named))
            if len(self._rendered) >= _RENDERED_KEYS:
                self._rendered.clear()
            self._rendered[memo] = found
        return found

    def _tags(self, org: Any, tags: Iterable[TagLike]) -> tuple[Tag, ...]:
        scope = GLOBAL if org is None else org   # a key's own org: None only for GLOBAL keys
        return tuple(t if isinstance(t, Tag) else tag(t, org=scope) for t in _tag_list(tags))


def _tag_list(tags: Iterable[TagLike]) -> Iterable[TagLike]:
    """`tags`, refused when it is one string (which would iterate as its characters)."""
    if isinstance(tags, str):
        raise UsageError("tags= takes a list of tags, not one string.",
                         hint=f"Write tags=[{tags!r}].")
    return tags


def _attributes(resource: str) -> dict[str, Any]:
    return {"pgkeel.cache.resource": resource}
