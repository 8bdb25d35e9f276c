"""`Cache`: look-aside caching that never serves a value older than a committed write.

The read path (`get_or_set`) is: single-flight in this process -> one Lua round trip that
returns the value if its generations are current, else a lease -> the loader -> a fill that
Redis accepts only while the lease is alive and the generations unchanged. Invalidations
(`delete`, `invalidate`, `invalidate_on_commit`) mark keys dead, cancel their leases and bump
tag generations in one round trip. Redis trouble never fails a call: the breaker opens, reads
go to the loader, and invalidations wait in `pending` until recovery delivers them -- before
anything is read from Redis again. See docs/cache.md for the guarantees and their limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import RedisError

from pgkeel.cache.backend import CacheBackend, LeaseMode, ReadResult, ReadStatus
from pgkeel.cache.breaker import BreakerState, CircuitBreaker
from pgkeel.cache.envelope import (
    MISS,
    Codec,
    Decoded,
    JsonCodec,
    UndecodableValue,
    decode,
    encode,
)
from pgkeel.cache.flight import SingleFlight
from pgkeel.cache.keys import CONTEXT_ORG, CacheKey, KeyId, KeySpace, StoreKey, Tag, key, tag
from pgkeel.cache.metrics import (
    BREAKER_OPENS_FIELD,
    BREAKER_STATE,
    PENDING,
    CacheStats,
    Recorder,
)
from pgkeel.cache.options import CacheOptions
from pgkeel.cache.pending import PendingInvalidations
from pgkeel.cache.ttl import jittered
from pgkeel.errors import UsageError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from pgkeel.cache.decorator import Decorator
    from pgkeel.config import Settings
    from pgkeel.db.transaction import Transaction

__all__ = ["Cache"]

log = logging.getLogger("pgkeel.cache")

T = TypeVar("T")
R = TypeVar("R")
TagLike = str | Tag

_FAILURES = (RedisError, OSError, TimeoutError)
_TAG_RESOURCE = "_tag"
_RECOVERY_CHUNK = 1_000
_rng = random.Random()  # noqa: S311 -- XFetch coin flips, not cryptography


class _Unavailable(Exception):
    """Redis could not be used for this call (breaker open, error or timeout)."""


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
        self.breaker = CircuitBreaker(failure_threshold=self.options.breaker_failures,
                                      reset_timeout_s=self.options.breaker_reset_s,
                                      on_change=self._breaker_changed)
        self.pending = PendingInvalidations(self.options.max_pending)
        self._flight = SingleFlight()
        self._recorder = Recorder()
        self._batches: weakref.WeakKeyDictionary[Transaction, _TxBatch] = (
            weakref.WeakKeyDictionary())
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._next_flush = time.monotonic() + self.options.stats_flush_s
        self._closed = False
        BREAKER_STATE.labels(self.options.name).set(0)
        PENDING.labels(self.options.name).set(0)

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, *, redis: Redis | None = None,
                      codec: Codec | None = None, **overrides: Any) -> Cache:
        """The cache REDIS_URL and the CACHE_* settings describe: Redis, two-tier when
        CACHE_L1_TTL_S > 0, or in-process for `memory://`. `redis`: reuse a client (not
        closed by `aclose`); otherwise the cache opens its own, without retries."""
        from pgkeel.cache.memory_backend import MemoryBackend
        from pgkeel.cache.redis_backend import RedisBackend, cache_client
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
            client = redis or cache_client(url, timeout_s=options.op_timeout_s)
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
        try:
            result = await self._call(
                lambda: self.backend.read(store_key, LeaseMode.NONE, "", 0))
        except _Unavailable:
            return MISS
        if result.is_hit and result.value is not None:
            decoded = self._decode(store_key, result.value, codec)
            if decoded is not None:
                self._count(store_key, "hits")
                return decoded.value
        self._count(store_key, "misses")
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
        store_key = self.keyspace.store_key(cache_key, self._tags(cache_key.org, tags))
        plan = _Fill(ttl=ttl, negative_ttl=negative_ttl, stale_ok=stale_ok,
                     codec=codec or self.codec)
        result: T = await self._flight.run(
            store_key.value, lambda: self._fetch(store_key, loader, plan))
        return result

    def cached(self, resource: str, **options: Any) -> Decorator:
        """A decorator caching an async function's result; see `pgkeel.cache.decorator`."""
        from pgkeel.cache.decorator import cached

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
        try:
            await self._call(lambda: self.backend.write(store_key, data, _ms(ttl_s)))
            self._count(store_key, "sets")
        except _Unavailable:
            self._defer([store_key], [])

    async def delete(self, *cache_keys: CacheKey) -> None:
        """Invalidate keys now (their leases too). Never raises; see `pending`."""
        store_keys = [self.keyspace.store_key(k) for k in cache_keys]
        await self._apply(store_keys, [])

    async def invalidate(self, *tags: TagLike, org: Any = CONTEXT_ORG) -> None:
        """Invalidate every key stored with any of `tags`, in O(1) each: their generations
        are bumped in one round trip. Plain names are tags of `org` (default: context)."""
        resolved = self._tags(org, tags)
        await self._apply([], [t.gen_key(self.options.prefix) for t in resolved])

    def invalidate_on_commit(self, tx: Transaction, *items: CacheKey | TagLike) -> None:
        """Invalidate these keys and tags once `tx` commits; nothing if it rolls back.

        Plain names are tags of the transaction's organization. Everything named during one
        transaction is delivered together, in one round trip, after COMMIT succeeded; if
        Redis fails then, it is delivered on recovery (see `pending`).
        """
        batch = self._batches.get(tx)
        if batch is None:
            batch = _TxBatch()
            tx.on_commit(lambda: self._apply_batch(batch))
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
        deltas = self._recorder.take_unflushed()
        if not deltas:
            return
        try:
            await self._call(
                lambda: self.backend.add_counters(deltas, self.keyspace.stats_key))
        except _Unavailable:
            self._recorder.restore_unflushed(deltas)

    async def aclose(self) -> None:
        """Flush counters, try once more to deliver pending invalidations, close."""
        if self._closed:
            return
        self._closed = True
        for task in [*self._tasks, *([self._recovery] if self._recovery else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.pending:
            self.breaker.begin_probe()
            await self._deliver_pending()
            if self.pending:
                log.error("cache closed with %d undelivered invalidations; those entries "
                          "may be served until their TTL ends", len(self.pending))
        if self.breaker.closed:
            await self.flush_stats()
        await self.backend.aclose()

    # -- the read path -----------------------------------------------------------------------

    async def _fetch(self, store_key: StoreKey, loader: Callable[[], Awaitable[T]],
                     plan: _Fill) -> T:
        mode = LeaseMode.ON_MISS if self.options.leases else LeaseMode.NONE
        token = os.urandom(8).hex()
        try:
            result = await self._read(store_key, mode, token)
        except _Unavailable:
            return await self._load(store_key, loader)
        if result.is_hit:
            decoded = self._decode(store_key, result.value or b"", plan.codec)
            if decoded is None:  # undecodable: replace it, under a lease
                self._count(store_key, "misses")
                return await self._refresh(store_key, loader, plan, token, current=None)
            self._count(store_key, "hits")
            if self._refresh_due(decoded):
                self._count(store_key, "early_refreshes")
                return await self._refresh(store_key, loader, plan, token, current=decoded)
            value: T = decoded.value
            return value
        self._count(store_key, "misses")
        if result.status is ReadStatus.WAIT:
            return await self._wait_for_fill(store_key, loader, plan, token, result)
        return await self._load_and_fill(store_key, loader, plan, token, result)

    async def _read(self, store_key: StoreKey, mode: LeaseMode, token: str) -> ReadResult:
        ttl_ms = _ms(self.options.lease_ttl_s)
        return await self._call(lambda: self.backend.read(store_key, mode, token, ttl_ms))

    async def _load_and_fill(self, store_key: StoreKey, loader: Callable[[], Awaitable[T]],
                             plan: _Fill, token: str, result: ReadResult) -> T:
        leased = result.leased
        started = time.perf_counter()
        try:
            value = await self._load(store_key, loader)
        except BaseException:
            if leased:
                await self._quietly(lambda: self.backend.release(store_key, token))
            raise
        delta = time.perf_counter() - started
        data = self._encode(store_key, value, plan, delta)
        if data is None:
            if leased:
                await self._quietly(lambda: self.backend.release(store_key, token))
            return value
        data_bytes, ttl_ms = data
        try:
            if leased:
                stored = await self._call(lambda: self.backend.fill(
                    store_key, data_bytes, ttl_ms, token, result.gens))
            else:  # leases disabled: the classic (racy) look-aside set
                await self._call(lambda: self.backend.write(store_key, data_bytes, ttl_ms))
                stored = True
        except _Unavailable:
            return value
        self._count(store_key, "sets" if stored else "fills_rejected")
        return value

    async def _wait_for_fill(self, store_key: StoreKey, loader: Callable[[], Awaitable[T]],
                             plan: _Fill, token: str, result: ReadResult) -> T:
        """Another process holds the lease: serve stale if allowed, else poll for its fill,
        and after `lease_wait_s` take the lease over and load (the holder may be dead)."""
        if plan.stale_ok and result.stale is not None:
            stale = self._decode(store_key, result.stale, plan.codec)
            if stale is not None:
                self._count(store_key, "stale_served")
                value: T = stale.value
                return value
        self._count(store_key, "lease_waits")
        deadline = time.monotonic() + self.options.lease_wait_s
        delay = 0.002
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)
            try:
                again = await self._read(store_key, LeaseMode.ON_MISS, token)
            except _Unavailable:
                break
            if again.is_hit:
                decoded = self._decode(store_key, again.value or b"", plan.codec)
                if decoded is not None:
                    found: T = decoded.value
                    return found
                break
            if again.status is ReadStatus.LEASED:  # the holder gave up or was cancelled
                return await self._load_and_fill(store_key, loader, plan, token, again)
        return await self._take_over(store_key, loader, plan, token)

    async def _take_over(self, store_key: StoreKey, loader: Callable[[], Awaitable[T]],
                         plan: _Fill, token: str) -> T:
        """The lease holder is slow or dead: take its lease (its fill will be rejected)."""
        try:
            result = await self._read(store_key, LeaseMode.STEAL, token)
        except _Unavailable:
            return await self._load(store_key, loader)
        if result.is_hit:
            decoded = self._decode(store_key, result.value or b"", plan.codec)
            if decoded is not None:
                value: T = decoded.value
                return value
            return await self._refresh(store_key, loader, plan, token, current=None)
        return await self._load_and_fill(store_key, loader, plan, token, result)

    async def _refresh(self, store_key: StoreKey, loader: Callable[[], Awaitable[T]],
                       plan: _Fill, token: str, current: Decoded | None) -> T:
        """Reload a present value under a forced lease (XFetch, or an undecodable value)."""
        try:
            result = await self._read(store_key, LeaseMode.FORCE, token)
        except _Unavailable:
            result = ReadResult(ReadStatus.MISS)
        if result.leased:
            return await self._load_and_fill(store_key, loader, plan, token, result)
        if current is not None:  # someone else is refreshing it; ours is still valid
            value: T = current.value
            return value
        return await self._load(store_key, loader)

    def _refresh_due(self, decoded: Decoded) -> bool:
        """XFetch: refresh early with a probability that rises as expiry nears."""
        beta = self.options.xfetch_beta
        if beta <= 0 or decoded.delta <= 0:
            return False
        gap = -decoded.delta * beta * math.log(1.0 - _rng.random())
        return time.time() + gap >= decoded.expiry

    async def _load(self, store_key: StoreKey, loader: Callable[[], Awaitable[T]]) -> T:
        self._count(store_key, "loads")
        return await loader()

    def _encode(self, store_key: StoreKey, value: Any, plan: _Fill,
                delta: float) -> tuple[bytes, int] | None:
        negative = value is None
        base = (plan.negative_ttl or self.options.negative_ttl_s) if negative else (
            plan.ttl or self.options.default_ttl_s)
        ttl_s = jittered(base, self.options.jitter)
        try:
            return encode(value, plan.codec, ttl_s=ttl_s, delta_s=delta,
                          negative=negative), _ms(ttl_s)
        except Exception:
            log.warning("cannot encode a %r value for the cache; not cached",
                        store_key.resource, exc_info=True)
            self._count(store_key, "errors")
            return None

    def _decode(self, store_key: StoreKey, data: bytes, codec: Codec | None) -> Decoded | None:
        try:
            return decode(data, codec or self.codec)
        except UndecodableValue:
            self._count(store_key, "errors")
            return None

    # -- invalidation delivery ---------------------------------------------------------------

    async def _apply_batch(self, batch: _TxBatch) -> None:
        await self._apply(list(batch.keys.values()), sorted(batch.gen_keys))

    async def _apply(self, store_keys: list[StoreKey], gen_keys: list[str]) -> None:
        if not store_keys and not gen_keys:
            return
        for store_key in store_keys:
            self._count(store_key, "invalidations")
        if gen_keys:
            self._recorder.add(_TAG_RESOURCE, "invalidations", len(gen_keys))
        try:
            await self._call(lambda: self.backend.invalidate(store_keys, gen_keys))
        except _Unavailable:
            self._defer(store_keys, gen_keys)

    def _defer(self, store_keys: list[StoreKey], gen_keys: list[str]) -> None:
        """Keep undeliverable invalidations and stop reading Redis until they are delivered."""
        self.pending.add(store_keys, gen_keys)
        PENDING.labels(self.options.name).set(len(self.pending))
        if self.breaker.closed:
            log.warning("cache invalidation could not be delivered; Redis reads are "
                        "suspended until it is (%d pending)", len(self.pending))
        self.breaker.trip()

    async def _recover(self) -> None:
        """The half-open probe: ping, deliver every pending invalidation, then close."""
        self.breaker.begin_probe()
        try:
            async with asyncio.timeout(self.options.op_timeout_s):
                await self.backend.reset()
                await self.backend.ping()
            await self._deliver_pending()
            if not self.pending:
                self.breaker.close()
                log.info("cache: Redis is back; breaker closed")
                return
        except _FAILURES:
            pass
        self.breaker.trip()

    async def _deliver_pending(self) -> None:
        while self.pending:
            batch = self.pending.take()
            keys, gens = list(batch.keys.values()), sorted(batch.gen_keys)
            try:
                while keys or gens:
                    chunk_keys, keys = keys[:_RECOVERY_CHUNK], keys[_RECOVERY_CHUNK:]
                    chunk_gens, gens = gens[:_RECOVERY_CHUNK], gens[_RECOVERY_CHUNK:]
                    async with asyncio.timeout(max(self.options.op_timeout_s, 1.0)):
                        await self.backend.invalidate(chunk_keys, chunk_gens)
            except _FAILURES:
                self.pending.add(keys + chunk_keys, gens + chunk_gens)
                PENDING.labels(self.options.name).set(len(self.pending))
                return
            PENDING.labels(self.options.name).set(len(self.pending))

    # -- guarded calls -----------------------------------------------------------------------

    def _usable(self) -> bool:
        if self.breaker.closed:
            return True
        self._ensure_recovery()
        return False

    def _ensure_recovery(self) -> None:
        """Probe until Redis is back, whether or not requests come: other processes may be
        reading the values our pending invalidations are about."""
        if self._recovery is None and not self._closed:
            self._recovery = asyncio.ensure_future(self._recovery_loop())
            self._recovery.add_done_callback(self._recovery_done)

    async def _recovery_loop(self) -> None:
        while not self._closed and not self.breaker.closed:
            await asyncio.sleep(self.breaker.until_probe())
            await self._recover()

    def _recovery_done(self, task: asyncio.Task[None]) -> None:
        self._recovery = None
        if not task.cancelled() and task.exception() is not None:
            log.error("cache recovery failed", exc_info=task.exception())
            self.breaker.trip()

    async def _call(self, operation: Callable[[], Awaitable[R]]) -> R:
        """Run one backend call under the breaker and the per-call time limit."""
        if not self._usable():
            raise _Unavailable
        try:
            async with asyncio.timeout(self.options.op_timeout_s):
                result = await operation()
        except _FAILURES as exc:
            self._recorder.add("_backend", "errors")
            self.breaker.record_failure()
            log.debug("cache call failed: %r", exc)
            raise _Unavailable from exc
        self.breaker.record_success()
        self._maybe_flush()
        return result

    async def _quietly(self, operation: Callable[[], Awaitable[Any]]) -> None:
        with contextlib.suppress(_Unavailable):
            await self._call(operation)

    def _maybe_flush(self) -> None:
        now = time.monotonic()
        if now < self._next_flush or self._closed:
            return
        self._next_flush = now + self.options.stats_flush_s
        task = asyncio.ensure_future(self.flush_stats())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        BREAKER_STATE.labels(self.options.name).set(int(new))
        if old is BreakerState.CLOSED and new is BreakerState.OPEN:
            self._recorder.add_field(BREAKER_OPENS_FIELD)
            log.warning("cache: circuit breaker open; reading through to the loader")
            self._ensure_recovery()

    # -- helpers ---------------------------------------------------------------------------

    def _tags(self, org: Any, tags: Iterable[TagLike]) -> tuple[Tag, ...]:
        if isinstance(tags, str):
            raise UsageError("tags= takes a list of tags, not one string.",
                             hint=f"Write tags=[{tags!r}].")
        return tuple(t if isinstance(t, Tag) else tag(t, org=org) for t in tags)

    def _count(self, store_key: StoreKey, event: str) -> None:
        self._recorder.add(store_key.resource, event)


@dataclass(frozen=True, slots=True)
class _Fill:
    """How one `get_or_set` stores what it loads."""

    ttl: float | None
    negative_ttl: float | None
    stale_ok: bool
    codec: Codec


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))

